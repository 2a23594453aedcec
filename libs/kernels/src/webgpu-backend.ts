import {
  type AugmentRequest,
  type AugmentResult,
  checkOut,
  type InstanceStats,
  type KernelBackend,
  validateRequest,
} from './backend.js';
import type { Box } from './box-sampler.js';
import { boxArea, computeCoefficients, meanStd, SUMS_PER_PLANE } from './coefficients.js';
import { KernelInputError, show } from './errors.js';
import { identityPlan } from './plan.js';
import { assertFinite, type FeatureBatch, validateBatch } from './tensor.js';
import { describeAdapter, type GpuAdapterInfo, openWebGpu } from './webgpu-adapter.js';
import { type BatchBuffers, GpuBufferSet } from './webgpu-buffers.js';
import {
  APPLY_SHADER,
  APPLY_THREADS,
  MAX_GROUPS_PER_DIM,
  STATS_PER_PLANE,
  STATS_SHADER,
} from './webgpu-shaders.js';

export interface WebGpuOptions {
  /**
   * Largest segment of whole planes bound at once; tests set it low to run the segmented path.
   * @defaultValue the GPU's largest storage binding (128 MiB on lavapipe, 2-4 GiB on NVIDIA)
   */
  maxSegmentBytes?: number;
  /**
   * Called with each phase's milliseconds of every batch (the GPU check reports their medians).
   * @defaultValue none
   */
  onPhase?: (phase: WebGpuPhase, ms: number) => void;
}

/** The phases of one batch: input into staging, the statistics pass and its read-back, the
 * coefficients on the host, the affine pass and the output's read-back. */
export type WebGpuPhase = 'upload' | 'stats' | 'coefficients' | 'apply';

/**
 * The fused chain on a GPU through WebGPU (Dawn, the `webgpu` package): the statistics pass and
 * the affine pass as WGSL compute shaders (webgpu-shaders.ts), the coefficients on the host in
 * float64 exactly as the `fused` backend computes them. Per batch the input goes up once and the
 * output comes down once; the GPU buffers are kept across batches of the same shape.
 *
 * Named `webgpu`, the CLI's name for the WebGPU backend. The same algebra as tfjs ops on
 * @tensorflow/tfjs-backend-webgpu was measured beside it and was 7x slower (README, "Backends"), so
 * that version left the tree.
 */
export class WebGpuBackend implements KernelBackend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  private current: BatchBuffers | null = null;
  private readonly buffers: GpuBufferSet;
  private readonly bindingLimit: number;

  private constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: { stats: GPUComputePipeline; apply: GPUComputePipeline },
    /** The adapter it runs on. */
    readonly adapter: GpuAdapterInfo,
    // Dawn's instance: collected while its device lives, it frees memory the device still uses.
    private readonly instance: GPU,
    segmentBytes: number | undefined,
    private readonly onPhase: WebGpuOptions['onPhase'],
  ) {
    this.description = `webgpu (WGSL on ${describeAdapter(adapter)})`;
    this.buffers = new GpuBufferSet(device);
    this.bindingLimit = Math.min(
      segmentBytes ?? Infinity,
      device.limits.maxStorageBufferBindingSize,
      device.limits.maxBufferSize,
    );
  }

  /** Opens the best WebGPU adapter (see openWebGpu) and compiles the two passes. */
  static async open(options: WebGpuOptions = {}): Promise<WebGpuBackend> {
    const segmentBytes = options.maxSegmentBytes;
    if (segmentBytes !== undefined && !(Number.isInteger(segmentBytes) && segmentBytes >= 4))
      throw new KernelInputError('maxSegmentBytes', `must be an integer >= 4, got ${show(segmentBytes)}`);
    const { gpu, adapter, info } = await openWebGpu();
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
        maxBufferSize: adapter.limits.maxBufferSize,
      },
    });
    const pipeline = (code: string): GPUComputePipeline =>
      device.createComputePipeline({
        layout: 'auto',
        compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
      });
    return new WebGpuBackend(
      device,
      { stats: pipeline(STATS_SHADER), apply: pipeline(APPLY_SHADER) },
      info,
      gpu,
      segmentBytes,
      options.onPhase,
    );
  }

  /** GPU buffers alive now: one batch shape's set at most, none after dispose (the leak check). */
  get liveBuffers(): number {
    return this.buffers.liveBuffers;
  }

  async augment(batch: FeatureBatch, request: AugmentRequest, out?: Float32Array): Promise<AugmentResult> {
    // The non-finite scan is free here: a NaN or Inf in a plane makes its mean non-finite.
    validateRequest(batch, request, { scanFinite: false });
    const target = checkOut(out, batch.data.length);
    const plan = request.plan.fires ? request.plan : identityPlan(batch.shape[0]);
    const contentBox = plan.fires ? plan.contentBox : null;
    const styleBox = plan.fires ? plan.styleBox : null;
    let mark = this.onPhase ? performance.now() : 0;
    const phase = (name: WebGpuPhase): void => {
      if (!this.onPhase) return;
      const now = performance.now();
      this.onPhase(name, now - mark);
      mark = now;
    };
    const b = await this.upload(batch);
    phase('upload');
    const stats = await this.statsPass(b, batch.shape[3], contentBox, styleBox);
    phase('stats');
    if (!request.allowNonFinite && !allFinite(stats)) assertFinite(batch);
    const sums = toSums(stats, b.planes, b.hw, contentBox, styleBox);
    const coef = computeCoefficients(sums, batch.shape, plan, request.selfnorm);
    const packed = new Float32Array(4 * b.planes);
    for (let p = 0; p < b.planes; p++) {
      packed[4 * p] = coef.alphaIn[p] as number;
      packed[4 * p + 1] = coef.betaIn[p] as number;
      packed[4 * p + 2] = coef.alphaOut[p] as number;
      packed[4 * p + 3] = coef.betaOut[p] as number;
    }
    this.device.queue.writeBuffer(b.coef, 0, packed);
    phase('coefficients');
    await this.applyPass(b, batch.shape[3], contentBox, target);
    phase('apply');
    return { data: target, selfnormStats: coef.selfnormStats };
  }

  async instanceStats(batch: FeatureBatch, eps: number): Promise<InstanceStats> {
    validateBatch(batch, { allowNonFinite: true });
    const b = await this.upload(batch);
    const stats = await this.statsPass(b, batch.shape[3], null, null);
    const sums = toSums(stats, b.planes, b.hw, null, null);
    const mean = new Float64Array(b.planes);
    const std = new Float64Array(b.planes);
    for (let p = 0; p < b.planes; p++)
      [mean[p], std[p]] = meanStd(sums[p] as number, sums[p + b.planes] as number, b.hw, eps);
    return { mean, std };
  }

  async dispose(): Promise<void> {
    if (this.current) this.buffers.release(this.current);
    this.current = null;
    this.device.destroy();
  }

  /**
   * Writes the batch into this shape's mapped staging buffers (kept from the last batch, or made
   * afresh); the stats pass copies them to the GPU. Measured on an H200, a mapped staging buffer
   * moved 205 MB in 23 ms where queue.writeBuffer took 75 ms.
   */
  private async upload(batch: FeatureBatch): Promise<BatchBuffers> {
    const [N, C, H, W] = batch.shape;
    let b = this.current;
    if (b?.planes !== N * C || b.hw !== H * W) {
      if (b) this.buffers.release(b);
      this.current = null;
      b = this.buffers.forBatch(N * C, H * W, this.bindingLimit, this.pipelines);
      this.current = b;
    }
    const failed = await whileGpuWorks(b.uploadsMapped);
    if (failed) throw failed;
    for (const s of b.segments) {
      new Float32Array(s.upload.getMappedRange(), 0, s.count).set(
        batch.data.subarray(s.offset, s.offset + s.count),
      );
      s.upload.unmap();
    }
    return b;
  }

  /** Pass 1: (n, mean, M2) per plane and region, read back (N*C*9 floats). */
  private async statsPass(
    b: BatchBuffers,
    width: number,
    content: Box | null,
    style: Box | null,
  ): Promise<Float32Array> {
    const encoder = this.device.createCommandEncoder();
    for (const s of b.segments) encoder.copyBufferToBuffer(s.upload, 0, s.data, 0, s.count * 4);
    for (const s of b.segments) {
      const params = new Uint32Array(16);
      params.set([s.planes, b.hw, width, (content ? 1 : 0) | (style ? 2 : 0)]);
      if (content) params.set(content, 4);
      if (style) params.set(style, 8);
      params[12] = s.planeOffset;
      this.device.queue.writeBuffer(s.statsParams, 0, params);
      const pass = encoder.beginComputePass();
      pass.setPipeline(this.pipelines.stats);
      pass.setBindGroup(0, s.statsGroup);
      pass.dispatchWorkgroups(
        Math.min(s.planes, MAX_GROUPS_PER_DIM),
        Math.ceil(s.planes / MAX_GROUPS_PER_DIM),
      );
      pass.end();
    }
    encoder.copyBufferToBuffer(b.stats, 0, b.statsRead, 0, b.planes * STATS_PER_PLANE * 4);
    this.device.queue.submit([encoder.finish()]);
    b.uploadsMapped = Promise.all(b.segments.map((s) => s.upload.mapAsync(GPUMapMode.WRITE))).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    await whileGpuWorks(b.statsRead.mapAsync(GPUMapMode.READ));
    const stats = new Float32Array(b.statsRead.getMappedRange().slice(0));
    b.statsRead.unmap();
    return stats;
  }

  /** Pass 2: the affine map in place, then the output read back into `target`. */
  private async applyPass(
    b: BatchBuffers,
    width: number,
    content: Box | null,
    target: Float32Array,
  ): Promise<void> {
    const encoder = this.device.createCommandEncoder();
    for (const s of b.segments) {
      const groups = Math.ceil(s.count / APPLY_THREADS);
      const x = Math.min(groups, MAX_GROUPS_PER_DIM);
      const params = new Uint32Array(12);
      params.set([s.count, b.hw, width, content ? 1 : 0]);
      if (content) params.set(content, 4);
      params[8] = x;
      params[9] = s.planeOffset;
      this.device.queue.writeBuffer(s.applyParams, 0, params);
      const pass = encoder.beginComputePass();
      pass.setPipeline(this.pipelines.apply);
      pass.setBindGroup(0, s.applyGroup);
      pass.dispatchWorkgroups(x, Math.ceil(groups / x));
      pass.end();
      encoder.copyBufferToBuffer(s.data, 0, s.read, 0, s.count * 4);
    }
    this.device.queue.submit([encoder.finish()]);
    await whileGpuWorks(Promise.all(b.segments.map((s) => s.read.mapAsync(GPUMapMode.READ))));
    for (const s of b.segments) {
      target.set(new Float32Array(s.read.getMappedRange(), 0, s.count), s.offset);
      s.read.unmap();
    }
  }
}

function allFinite(stats: Float32Array): boolean {
  // An index loop: for-of over a typed array was 12x slower here (4.5 ms for 64x512 planes).
  for (let i = 0; i < stats.length; i++) if (!Number.isFinite(stats[i])) return false;
  return true;
}

/**
 * The float64 sums the coefficients are computed from, out of the pass's (n, mean, M2): S = n mean,
 * Q = M2 + n mean^2, so that Q - S^2/n gives M2 back without the cancellation of float32 sums.
 */
function toSums(
  stats: Float32Array,
  planes: number,
  hw: number,
  content: Box | null,
  style: Box | null,
): Float64Array {
  const sums = new Float64Array(planes * SUMS_PER_PLANE);
  const counts = [hw, content ? boxArea(content, hw) : 0, style ? boxArea(style, hw) : 0];
  for (let k = 0; k < 3; k++) {
    const n = counts[k] as number;
    if (!n) continue;
    const s = 2 * k * planes;
    const q = s + planes;
    for (let p = 0, at = 3 * k; p < planes; p++, at += STATS_PER_PLANE) {
      const mean = stats[at + 1] as number;
      sums[s + p] = n * mean;
      sums[q + p] = (stats[at + 2] as number) + n * mean * mean;
    }
  }
  return sums;
}

/**
 * Dawn settles its promises from Node's event loop but keeps no reference on it: without one, a
 * process waiting only for the GPU would exit. A timer holds the loop while the GPU works.
 */
async function whileGpuWorks<T>(work: Promise<T>): Promise<T> {
  const hold = setInterval(() => undefined, 60_000);
  try {
    return await work;
  } finally {
    clearInterval(hold);
  }
}
