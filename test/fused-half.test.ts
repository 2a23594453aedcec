import { describe, expect, it } from 'vitest';
import { defaultSelfNormParams, FusedBackend, type HalfKind, makePlan, type Shape4 } from '@cnsn/kernels';
import { narrowFloat32, widenToFloat32 } from '@cnsn/protocol';
import { testBatch } from './support/index.js';

// A 16-bit wire inside the fused passes (wasm-simd): bit for bit the float32 chain between the
// protocol's widen and narrow.
const narrow = (x: Float32Array, dtype: HalfKind): Uint16Array =>
  narrowFloat32(x, dtype, new Uint16Array(x.length));
const widen = (h: Uint16Array, dtype: HalfKind): Float32Array =>
  widenToFloat32(h, dtype, new Float32Array(h.length));

describe.each(['bfloat16', 'float16'] as const)('fused %s in place', (dtype) => {
  const fused = new FusedBackend('wasm');

  /** The batch as a worker receives it: into the borrowed buffer, behind a 24-byte frame. */
  function receive(shape: Shape4, halves: Uint16Array): void {
    const framed = fused.borrowFramedHalf(shape, 24);
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
    const halves = narrow(testBatch(shape, 3).data, dtype);
    for (let seq = 0; seq < 4; seq++) {
      const request = {
        plan: makePlan(shape, 5, seq, crossnorm),
        selfnorm: { mode: 'train' as const, params: defaultSelfNormParams(shape[1], { seed: 4 }) },
      };
      const want = new FusedBackend('wasm').augmentSync({ data: widen(halves, dtype), shape }, request);
      receive(shape, halves);
      const got = fused.augmentHalfSync(shape, request, dtype);
      const same = Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength).equals(
        Buffer.from(narrow(want.data, dtype).buffer),
      );
      expect(same, `batch ${seq}`).toBe(true);
      expect(got.selfnormStats).toEqual(want.selfnormStats);
    }
  });

  it('keeps NaN a NaN when allowed, and names the first non-finite value as float32 does', () => {
    const shape: Shape4 = [2, 2, 3, 5];
    const halves = narrow(testBatch(shape, 1).data, dtype);
    halves[17] = dtype === 'bfloat16' ? 0x7fc1 : 0x7e01; // NaN
    halves[40] = dtype === 'bfloat16' ? 0xff80 : 0xfc00; // -Infinity
    const request = { plan: makePlan(shape, 1, 0, { crop: 'neither', chan: false }), selfnorm: null };
    receive(shape, halves);
    expect(() => fused.augmentHalfSync(shape, request, dtype)).toThrow(
      /input\.data: value NaN at \[0, 1, 0, 2\] \(NCHW\) is not finite; pass allowNonFinite/,
    );
    receive(shape, halves);
    const got = fused.augmentHalfSync(shape, { ...request, allowNonFinite: true }, dtype);
    expect(Number.isNaN(widen(got.data.slice(17, 18), dtype)[0])).toBe(true);
  });

  it('fused-js has no 16-bit buffer: the worker widens for it', () => {
    expect(new FusedBackend('js').borrowFramedHalf([1, 1, 2, 2], 0)).toBeNull();
  });
});
