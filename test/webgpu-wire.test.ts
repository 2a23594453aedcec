import {
  type AugmentRequest,
  defaultSelfNormParams,
  type HalfDtype,
  identityPlan,
  makePlan,
  type Shape4,
  WebGpuBackend,
} from '@cnsn/kernels';
import { narrowFloat32, widenToFloat32 } from '@cnsn/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBatch, WEBGPU_REQUIRED, webgpuUnavailable } from './support/index.js';

// A 16-bit wire converted on the GPU (webgpu-wire-shader.ts) gives the bits the host's
// conversions give around the same float32 passes: the protocol's narrowFloat32 and widenToFloat32
// are the reference.
const unavailable = await webgpuUnavailable();

describe.skipIf(unavailable && !WEBGPU_REQUIRED)('a 16-bit wire widened and narrowed on the GPU', () => {
  let gpu: WebGpuBackend;
  beforeAll(async () => {
    expect(unavailable, 'CNSN_REQUIRE_WEBGPU is set but webgpu is unavailable').toBeNull();
    gpu = await WebGpuBackend.open();
  });
  afterAll(() => gpu?.dispose());

  /** The GPU's own conversions: the halves received into slot 0's staging. */
  async function onGpu(halves: Uint16Array, shape: Shape4, request: AugmentRequest, dtype: HalfDtype) {
    const target = await gpu.inputTarget(0, shape, 0, dtype);
    if (!target) throw new Error('no 16-bit target');
    expect(target.length).toBe(halves.byteLength);
    target.set(new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength));
    const r = await gpu.augmentHalf(0, shape, request, dtype);
    return { ...r, data: r.data.slice() };
  }

  /** The host's conversions around the same float32 passes (slot 1). */
  async function onHost(halves: Uint16Array, shape: Shape4, request: AugmentRequest, dtype: HalfDtype) {
    const data = widenToFloat32(halves, dtype, new Float32Array(halves.length));
    return (await gpu.augmentIn(1, { data, shape }, request)).data.slice();
  }

  it.each(['bfloat16', 'float16'] as const)(
    '%s: every one of the 65536 values, through an identity plan',
    async (dtype) => {
      const shape: Shape4 = [1, 1, 256, 256];
      const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const request = { plan: identityPlan(1), selfnorm: null, allowNonFinite: true };
      const got = await onGpu(halves, shape, request, dtype);
      const want = narrowFloat32(await onHost(halves, shape, request, dtype), dtype, new Uint16Array(65536));
      expect(Buffer.from(got.data.buffer)).toEqual(Buffer.from(want.buffer));
      expect(got.overflow).toBeNull();
    },
  );

  it.each(['bfloat16', 'float16'] as const)(
    '%s: CrossNorm and SelfNorm outputs round to the same bits, an odd count included',
    async (dtype) => {
      // 459277 values a batch (odd): about 7 of them ties for bfloat16 (1 in 65536), which round to even.
      const shape: Shape4 = [7, 7, 91, 103];
      const x = testBatch(shape, 31).data;
      const halves = narrowFloat32(x, dtype, new Uint16Array(x.length));
      for (let seq = 0; seq < 2; seq++) {
        const request = {
          plan: makePlan(shape, 8, seq, { crop: 'both', chan: true }),
          selfnorm: { mode: 'train' as const, params: defaultSelfNormParams(7, { seed: 2 }) },
        };
        const got = await onGpu(halves, shape, request, dtype);
        const host = await onHost(halves, shape, request, dtype);
        const want = narrowFloat32(host, dtype, new Uint16Array(host.length));
        expect(Buffer.from(got.data.buffer), `batch ${seq}`).toEqual(Buffer.from(want.buffer));
        expect(got.selfnormStats?.g.mean).toHaveLength(7);
      }
    },
  );

  it('float16: an output beyond its range is the first one the host would refuse, with its value', async () => {
    const shape: Shape4 = [2, 1, 16, 16];
    const x = new Float32Array(512);
    // Instance 0 spreads over +-60000; instance 1, at unit scale with one outlier, takes its style.
    for (let i = 0; i < 256; i++) x[i] = (i % 2 ? 1 : -1) * 60000 * ((i % 7) / 6);
    for (let i = 256; i < 512; i++) x[i] = Math.sin(i) + (i === 300 ? 12 : 0);
    const halves = narrowFloat32(x, 'float16', new Uint16Array(512));
    const plan = {
      ...makePlan(shape, 1, 0, { crop: 'neither', chan: false }),
      fires: true,
      insIdxs: [1, 0],
      lam: null,
    };
    const request = { plan, selfnorm: null };
    const got = await onGpu(halves, shape, request, 'float16');
    const host = await onHost(halves, shape, request, 'float16');
    let refused: Error | null = null;
    try {
      narrowFloat32(host, 'float16', new Uint16Array(512));
    } catch (err) {
      refused = err as Error;
    }
    expect(refused).not.toBeNull();
    expect(got.overflow).not.toBeNull();
    expect(refused?.message).toContain(
      `value ${got.overflow?.value} at index ${got.overflow?.index} is outside`,
    );
  });

  it('leaves a batch of several segments to the host: no 16-bit target', async () => {
    const segmented = await WebGpuBackend.open({ maxSegmentBytes: 4 * 99 * 4 });
    expect(await segmented.inputTarget(0, [2, 4, 9, 11], 0, 'bfloat16')).toBeNull();
    expect(await segmented.inputTarget(0, [2, 4, 9, 11], 0, 'float32')).not.toBeNull();
    await segmented.dispose();
  });
});
