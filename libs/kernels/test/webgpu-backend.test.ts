import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AugmentResult,
  BackendUnavailableError,
  createBackend,
  defaultSelfNormParams,
  KernelInputError,
  makePlan,
  type Shape4,
  WebGpuBackend,
} from '../src/index.js';
import { randomBatch } from './random-batch.js';

// What only the WebGPU backend has: segments of whole planes for batches larger than one storage
// binding, and GPU buffers kept per batch shape. The shared suites (golden, properties, bad input)
// run on it through describeEachBackend.
const unavailable = await WebGpuBackend.open().then(
  async (b) => {
    await b.dispose();
    return null;
  },
  (err: unknown) => (err instanceof BackendUnavailableError ? err.message : Promise.reject(err)),
);
const required = Boolean(process.env.CNSN_REQUIRE_WEBGPU);

describe.skipIf(unavailable !== null && !required)(
  `webgpu segments and buffers${unavailable ? ` (unavailable: ${unavailable})` : ''}`,
  () => {
    const shape: Shape4 = [4, 6, 9, 7];
    const batch = randomBatch(shape, 7);
    const plan = makePlan(shape, 1, 3, { crop: 'both', chan: true });
    const request = { plan, selfnorm: { mode: 'train' as const, params: defaultSelfNormParams(shape[1]) } };
    let whole: WebGpuBackend;
    // 5 planes of 63 floats per segment: 24 planes make 5 segments, the last one short.
    let segmented: WebGpuBackend;

    beforeAll(async () => {
      expect(unavailable, 'CNSN_REQUIRE_WEBGPU is set but webgpu is unavailable').toBeNull();
      whole = await WebGpuBackend.open();
      segmented = await WebGpuBackend.open({ maxSegmentBytes: 5 * 63 * 4 + 3 });
    });
    afterAll(async () => {
      await whole?.dispose();
      await segmented?.dispose();
    });

    it('a batch split into segments gives the same bits as one binding, and matches fused', async () => {
      const a = await whole.augment(batch, request);
      const b = await segmented.augment(batch, request);
      expect(Buffer.from(b.data.buffer).equals(Buffer.from(a.data.buffer))).toBe(true);
      expect(segmented.liveBuffers).toBe(15 + 5 * 3);
      const fused = (await createBackend('fused')).backend;
      const f = await fused.augment(batch, request);
      await fused.dispose();
      let worst = 0;
      for (let i = 0; i < f.data.length; i++)
        worst = Math.max(worst, Math.abs((f.data[i] as number) - (a.data[i] as number)));
      expect(worst).toBeLessThan(1e-4);
      const s = await segmented.instanceStats(batch, 1e-5);
      const w = await whole.instanceStats(batch, 1e-5);
      expect(s.mean).toEqual(w.mean);
      expect(s.std).toEqual(w.std);
    });

    it('keeps one shape of buffers, frees the old shape when the shape changes, none after dispose', async () => {
      const gpu = await WebGpuBackend.open();
      await gpu.augment(batch, request);
      expect(gpu.liveBuffers).toBe(18);
      await gpu.augment(batch, request);
      expect(gpu.liveBuffers).toBe(18);
      const other: Shape4 = [2, 3, 5, 5];
      await gpu.augment(randomBatch(other, 1), {
        plan: makePlan(other, 1, 0, { crop: 'neither', chan: false }),
        selfnorm: null,
      });
      expect(gpu.liveBuffers).toBe(18);
      await gpu.dispose();
      expect(gpu.liveBuffers).toBe(0);
    });

    it('refuses a plane larger than a segment, and a bad segment size, by name', async () => {
      const tiny = await WebGpuBackend.open({ maxSegmentBytes: 62 * 4 });
      await expect(tiny.augment(batch, request)).rejects.toThrow(
        /input\.shape: one 63-value plane \(252 bytes\) exceeds this GPU's largest storage binding \(248 bytes\)/,
      );
      await tiny.dispose();
      await expect(WebGpuBackend.open({ maxSegmentBytes: 2.5 })).rejects.toThrow(KernelInputError);
      await expect(WebGpuBackend.open({ maxSegmentBytes: 2.5 })).rejects.toThrow(
        /maxSegmentBytes: must be an integer >= 4, got 2\.5/,
      );
    });
  },
);

describe.skipIf(unavailable !== null && !required)(
  'webgpu slots: received in place, sent from the read-back',
  () => {
    const shape: Shape4 = [6, 5, 8, 9];
    const count = 6 * 5 * 8 * 9;
    const request = (seq: number) => ({
      plan: makePlan(shape, 4, seq, { crop: 'both', chan: true }),
      selfnorm: { mode: 'train' as const, params: defaultSelfNormParams(shape[1]) },
    });
    let gpu: WebGpuBackend;
    let reference: WebGpuBackend;
    beforeAll(async () => {
      gpu = await WebGpuBackend.open();
      reference = await WebGpuBackend.open();
    });
    afterAll(async () => {
      await gpu?.dispose();
      await reference?.dispose();
    });

    /** A blob as a worker receives it: a 40-byte header, then the values, into slot `slot`'s staging. */
    async function receive(slot: number, seed: number): Promise<Float32Array> {
      const framed = await gpu.inputTarget(slot, shape, 40);
      if (!framed) throw new Error('no target');
      expect(framed.length).toBe(40 + count * 4);
      const values = new Float32Array(framed.buffer, framed.byteOffset + 40, count);
      values.set(randomBatch(shape, seed).data);
      return values;
    }

    it('augments a batch where it was received, with no copy in, to the same bits as a copied one', async () => {
      const before = { ...gpu.staged };
      const data = await receive(0, 11);
      const got = await gpu.augmentIn(0, { data, shape }, request(0));
      expect(gpu.staged).toEqual({ copied: before.copied, inPlace: before.inPlace + 1 });
      const want = await reference.augment(randomBatch(shape, 11), request(0));
      expect(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength)).toEqual(
        Buffer.from(want.data.buffer),
      );
      expect(got.selfnormStats).toEqual(want.selfnormStats);
    });

    it('runs two slots at once; a result stays as it is until its own slot takes the next batch', async () => {
      const inputs = await Promise.all([receive(0, 21), receive(1, 22)]);
      const [a, b] = (await Promise.all(
        inputs.map((data, slot) => gpu.augmentIn(slot, { data, shape }, request(slot))),
      )) as [AugmentResult, AugmentResult];
      const kept = Float32Array.from(a.data);
      const wantA = await reference.augment(randomBatch(shape, 21), request(0));
      const wantB = await reference.augment(randomBatch(shape, 22), request(1));
      expect(Buffer.from(kept.buffer)).toEqual(Buffer.from(wantA.data.buffer));
      expect(Buffer.from(Float32Array.from(b.data).buffer)).toEqual(Buffer.from(wantB.data.buffer));
      // Slot 1 takes another batch: slot 0's result is untouched.
      await gpu.augmentIn(1, { data: await receive(1, 23), shape }, request(2));
      expect(Buffer.from(Float32Array.from(a.data).buffer)).toEqual(Buffer.from(kept.buffer));
    });

    it('flags the first non-finite value of a later segment by its position', async () => {
      const segmented = await WebGpuBackend.open({ maxSegmentBytes: 4 * 72 * 4 });
      const batch = randomBatch(shape, 5);
      batch.data[17 * 72 + 3 * 9 + 2] = -Infinity;
      batch.data[25 * 72] = Number.NaN;
      await expect(segmented.augment(batch, request(0))).rejects.toThrow(
        /input\.data: value -Infinity at \[3, 2, 3, 2\] \(NCHW\) is not finite; pass allowNonFinite/,
      );
      await segmented.dispose();
    });

    it('keeps the golden tolerance of fused where float32 coefficients are hardest: a large offset, a tiny spread', async () => {
      const fused = (await createBackend('fused')).backend;
      for (const [offset, spread] of [
        [1000, 0.01],
        [1e4, 0.01],
        [0, 1e-4],
        [-50, 200],
      ] as const) {
        const batch = randomBatch(shape, 9);
        for (let i = 0; i < count; i++) batch.data[i] = offset + spread * (batch.data[i] as number);
        for (const mode of ['train', 'eval'] as const) {
          const req = { ...request(1), selfnorm: { ...request(1).selfnorm, mode } };
          const f = await fused.augment(batch, req);
          const g = await gpu.augment(batch, req);
          let worst = 0;
          for (let i = 0; i < count; i++) {
            const e = f.data[i] as number;
            worst = Math.max(worst, Math.abs((g.data[i] as number) - e) - 1e-4 * Math.abs(e));
          }
          expect(worst, `offset ${offset}, spread ${spread}, ${mode}`).toBeLessThanOrEqual(1e-4);
        }
      }
      await fused.dispose();
    });
  },
);
