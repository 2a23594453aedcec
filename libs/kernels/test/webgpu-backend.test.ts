import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
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
      expect(segmented.liveBuffers).toBe(3 + 5 * 5);
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
      expect(gpu.liveBuffers).toBe(8);
      await gpu.augment(batch, request);
      expect(gpu.liveBuffers).toBe(8);
      const other: Shape4 = [2, 3, 5, 5];
      await gpu.augment(randomBatch(other, 1), {
        plan: makePlan(other, 1, 0, { crop: 'neither', chan: false }),
        selfnorm: null,
      });
      expect(gpu.liveBuffers).toBe(8);
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
