import { describe, expect, it } from 'vitest';
import { defaultSelfNormParams, FusedBackend, makePlan, type Shape4 } from '../src/index.js';
import { randomBatch } from './random-batch.js';

// bfloat16 inside the fused passes (wasm-simd): bit for bit the float32 chain between the wire's
// widen and narrow (round to nearest even; a NaN keeps a mantissa bit), written here as the
// protocol writes them.
function narrow(x: Float32Array): Uint16Array {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(bits, (b) =>
    (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16,
  );
}
function widen(h: Uint16Array): Float32Array {
  return new Float32Array(Uint32Array.from(h, (v) => v << 16).buffer);
}

describe('fused bfloat16 in place', () => {
  const fused = new FusedBackend('wasm');

  /** The batch as a worker receives it: into the borrowed buffer, behind a 24-byte frame. */
  function receive(shape: Shape4, halves: Uint16Array): void {
    const framed = fused.borrowFramedBf16(shape, 24);
    if (!framed) throw new Error('no bfloat16 buffer');
    expect(framed.length).toBe(24 + halves.byteLength);
    framed.set(new Uint8Array(halves.buffer), 24);
  }

  it.each([
    ['both boxes, odd map', [3, 5, 7, 9], { crop: 'both', chan: true }],
    ['content box only', [4, 3, 8, 8], { crop: 'content', chan: false }],
    ['no box', [2, 6, 5, 13], { crop: 'neither', chan: true }],
    // Half a million values: about 8 exact ties a batch (1 in 65536), which must round to even.
    ['a large batch', [8, 16, 64, 64], { crop: 'both', chan: true }],
  ] as const)('%s: the same bits as the float32 chain between widen and narrow', (_, shape, crossnorm) => {
    const halves = narrow(randomBatch(shape, 3).data);
    for (let seq = 0; seq < 4; seq++) {
      const request = {
        plan: makePlan(shape, 5, seq, crossnorm),
        selfnorm: { mode: 'train' as const, params: defaultSelfNormParams(shape[1], { seed: 4 }) },
      };
      const want = new FusedBackend('wasm').augmentSync({ data: widen(halves), shape }, request);
      receive(shape, halves);
      const got = fused.augmentBf16Sync(shape, request);
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
        Buffer.from(narrow(want.data).buffer),
      );
      expect(got.selfnormStats).toEqual(want.selfnormStats);
    }
  });

  it('keeps NaN a NaN when allowed, and names the first non-finite value as float32 does', () => {
    const shape: Shape4 = [2, 2, 3, 5];
    const halves = narrow(randomBatch(shape, 1).data);
    halves[17] = 0x7fc1; // NaN
    halves[40] = 0xff80; // -Infinity
    const request = { plan: makePlan(shape, 1, 0, { crop: 'neither', chan: false }), selfnorm: null };
    receive(shape, halves);
    expect(() => fused.augmentBf16Sync(shape, request)).toThrow(
      /input\.data: value NaN at \[0, 1, 0, 2\] \(NCHW\) is not finite; pass allowNonFinite/,
    );
    receive(shape, halves);
    const got = fused.augmentBf16Sync(shape, { ...request, allowNonFinite: true });
    expect(Number.isNaN(widen(got.data.slice(17, 18))[0])).toBe(true);
  });

  it('fused-js has no bfloat16 buffer: the worker widens for it', () => {
    expect(new FusedBackend('js').borrowFramedBf16([1, 1, 2, 2], 0)).toBeNull();
  });
});
