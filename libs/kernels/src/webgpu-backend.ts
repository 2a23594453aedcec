import {
  type AugmentRequest,
  type AugmentResult,
  checkOut,
  type InstanceStats,
  type KernelBackend,
  validateRequest,
  validateRequestFor,
} from './backend.js';
import type { BatchNormBatchStats, SelfNormBatchStats } from './coefficients.js';
import { meanStd } from './coefficients.js';
import { KernelInputError, show } from './errors.js';
import { type CrossNormPlan, identityPlan } from './plan.js';
import type { SelfNormConfig } from './selfnorm-params.js';
import { type FeatureBatch, nonFiniteError, type Shape4, validateBatch } from './tensor.js';
import { describeAdapter, type GpuAdapterInfo, openWebGpu } from './webgpu-adapter.js';
import {
  type BatchBuffers,
  FLAG_BYTES,
  GpuBufferSet,
  type GpuPipelines,
  STAGING_HEADROOM,
} from './webgpu-buffers.js';
import { coefInputs, planeGroups } from './webgpu-coef-inputs.js';
import { BN_STATS_PER_CHANNEL, COEF_SHADER, COEF_THREADS } from './webgpu-coef-shader.js';
import {
  ALL_FINITE,
  APPLY_SHADER,
  APPLY_THREADS,
  MAX_GROUPS_PER_DIM,
  SMALL_MAP,
  STATS_PER_PLANE,
  STATS_SHADER,
  STATS_THREADS,
} from './webgpu-shaders.js';
import { WIRE_CODES, WIRE_SHADER, WIRE_THREADS } from './webgpu-wire-shader.js';

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
  /**
   * Submit a batch's copy in, passes and copy out one after the other, each waited for, so that
   * `onPhase` can tell them apart (the GPU check's phase table; slower, never for serving).
   * @defaultValue false
   */
  profilePhases?: boolean;
}

/**
 * The phases of one batch on the host's clock: `write` the input into mapped staging (nothing when
 * the worker received it there), `gpu` from submission until the output is mapped (with
 * `profilePhases`: `copyIn`, `compute` and `copyOut` instead), `finish` the flags and BatchNorm
 * statistics read back.
 */
export type WebGpuPhase = 'write' | 'gpu' | 'copyIn' | 'compute' | 'copyOut' | 'finish';

/** A 16-bit wire the GPU converts itself. */
export type HalfDtype = keyof typeof WIRE_CODES;

/** A batch augmented from and into a 16-bit wire (augmentHalf). */
export interface HalfResult {
  /** The output in the wire's 16 bits: a view of the slot's mapped read-back, until its next batch. */
  data: Uint16Array;
  selfnormStats: SelfNormBatchStats | null;
  /** The first output value float16 cannot hold (the batch cannot be sent in float16); null when none. */
  overflow: { index: number; value: number } | null;
}

/** The slot `augment` and `instanceStats` use; a worker's concurrent slots are 0, 1, ... */
const OWN_SLOT = -1;

/**
 * The fused chain on a GPU through WebGPU (Dawn, the `webgpu` package): the statistics pass, the
 * coefficient passes and the affine pass as WGSL compute shaders (webgpu-shaders.ts,
 * webgpu-coef-shader.ts), all in one submission per batch.
 *
 * Each concurrent slot has its own buffers: a worker receives a batch straight into its slot's
 * mapped staging (inputTarget), and sends the result straight from its slot's mapped read-back
 * (augmentIn), so the host copies nothing; with two slots one batch's transfer runs while the
 * other's passes do.
 *
 * Named `webgpu`, the CLI's name for the WebGPU backend. The same algebra as tfjs ops on
 * @tensorflow/tfjs-backend-webgpu was measured beside it and was 7x slower (README, "Backends"), so
 * that version left the tree.
 */
export class WebGpuBackend implements KernelBackend {
  readonly name = 'webgpu' as const;
  readonly description: string;
  /** Inputs copied into staging, and inputs that were received there (inputTarget, inputFloats). */
  readonly staged = { copied: 0, inPlace: 0 };
  private readonly slots = new Map<number, BatchBuffers>();
  private readonly buffers: GpuBufferSet;
  private readonly bindingLimit: number;

  private constructor(
    private readonly device: GPUDevice,
    private readonly pipelines: Compiled,
    /** The adapter it runs on. */
    readonly adapter: GpuAdapterInfo,
    // Dawn's instance: collected while its device lives, it frees memory the device still uses.
    private readonly instance: GPU,
    segmentBytes: number | undefined,
    private readonly options: WebGpuOptions,
  ) {
    this.description = `webgpu (WGSL on ${describeAdapter(adapter)})`;
    this.buffers = new GpuBufferSet(device);
    this.bindingLimit = Math.min(
      segmentBytes ?? Infinity,
      device.limits.maxStorageBufferBindingSize,
      device.limits.maxBufferSize,
    );
  }

  /** Opens the best WebGPU adapter (see openWebGpu) and compiles the passes. */
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
    return new WebGpuBackend(device, compilePasses(device), info, gpu, segmentBytes, options);
  }

  /** GPU buffers alive now: one batch shape's set per slot used at most, none after dispose (the leak check). */
  get liveBuffers(): number {
    return this.buffers.liveBuffers;
  }

  /**
   * Where slot `slot`'s next input blob should be received: its mapped staging, `dataOffset` bytes
   * of header first, then the values where the GPU copies them from. Null when the header is longer
   * than the staging's headroom.
   */
  async inputTarget(
    slot: number,
    shape: Shape4,
    dataOffset: number,
    dtype: 'float32' | HalfDtype = 'float32',
  ): Promise<Uint8Array | null> {
    if (dataOffset > STAGING_HEADROOM) return null;
    const b = this.slotBuffers(slot, shape);
    if (dtype !== 'float32' && !b.wireGroup) return null;
    const range = await this.mappedUpload(b);
    const bytes = b.count * (dtype === 'float32' ? 4 : 2);
    return new Uint8Array(range, STAGING_HEADROOM - dataOffset, dataOffset + bytes);
  }

  /** Slot `slot`'s mapped staging as floats: where a 16-bit input is widened to, with no copy after. */
  async inputFloats(slot: number, shape: Shape4): Promise<Float32Array> {
    const b = this.slotBuffers(slot, shape);
    return new Float32Array(await this.mappedUpload(b), STAGING_HEADROOM, b.count);
  }

  async augment(batch: FeatureBatch, request: AugmentRequest, out?: Float32Array): Promise<AugmentResult> {
    validateRequest(batch, request, { scanFinite: false });
    const target = checkOut(out, batch.data.length);
    const result = await this.augmentIn(OWN_SLOT, batch, request);
    target.set(result.data);
    return { data: target, selfnormStats: result.selfnormStats };
  }

  /**
   * Augments a batch in slot `slot` (one batch at a time per slot). The result's data is a view of
   * the slot's mapped read-back: it stays as it is until the slot's next batch, and is gone after.
   */
  async augmentIn(slot: number, batch: FeatureBatch, request: AugmentRequest): Promise<AugmentResult> {
    // The non-finite scan is free here: the statistics pass flags the first non-finite value.
    validateRequest(batch, request, { scanFinite: false });
    const clock = this.clock();
    const b = this.slotBuffers(slot, batch.shape);
    await this.stage(b, batch);
    clock('write');
    const { selfnormStats } = await this.run(b, batch.shape, request, 'float32', clock);
    return { data: new Float32Array(b.read.getMappedRange(), 0, b.count), selfnormStats };
  }

  /**
   * Augments the batch received into slot `slot`'s staging in the 16-bit `dtype` (inputTarget with
   * that dtype): widened on the GPU and narrowed back there, so the host converts nothing.
   */
  async augmentHalf(
    slot: number,
    shape: Shape4,
    request: AugmentRequest,
    dtype: HalfDtype,
  ): Promise<HalfResult> {
    validateRequestFor(shape, request);
    const clock = this.clock();
    const b = this.slotBuffers(slot, shape);
    if (!b.wireGroup)
      throw new KernelInputError(
        'input.shape',
        `a batch of ${b.segments.length} segments converts its 16-bit wire on the host: use augmentIn`,
      );
    await this.mappedUpload(b);
    this.unmapForGpu(b);
    this.staged.inPlace++;
    clock('write');
    const { flags, selfnormStats } = await this.run(b, shape, request, dtype, clock);
    const at = flags[1] as number;
    const overflow =
      at === ALL_FINITE ? null : { index: at, value: new Float32Array(flags.buffer, 8, 1)[0] as number };
    return { data: new Uint16Array(b.read.getMappedRange(), 0, b.count), selfnormStats, overflow };
  }

  /**
   * The batch's GPU work on staged input, waited for; the output stays mapped in `read`. Returns the
   * flags (a copy) and the BatchNorm statistics; a non-finite input fails here, by position.
   */
  private async run(
    b: BatchBuffers,
    shape: Shape4,
    request: AugmentRequest,
    dtype: 'float32' | HalfDtype,
    clock: (phase: WebGpuPhase) => void,
  ): Promise<{ flags: Uint32Array; selfnormStats: SelfNormBatchStats | null }> {
    const plan = request.plan.fires ? request.plan : identityPlan(shape[0]);
    this.writeParams(b, shape[3], plan, request.selfnorm, dtype);
    if (this.options.profilePhases) await this.submitProfiled(b, dtype, clock);
    else this.device.queue.submit([this.encode(b, 'all', dtype).finish()]);
    this.remapUpload(b);
    await whileGpuWorks(Promise.all([b.read.mapAsync(GPUMapMode.READ), b.info.mapAsync(GPUMapMode.READ)]));
    b.readMapped = true;
    clock(this.options.profilePhases ? 'copyOut' : 'gpu');
    const info = b.info.getMappedRange();
    const flags = new Uint32Array(info.slice(0, FLAG_BYTES));
    const selfnormStats = request.selfnorm?.mode === 'train' ? batchStats(info, b.c, request.selfnorm) : null;
    b.info.unmap();
    const bad = flags[0] as number;
    if (bad !== ALL_FINITE && !request.allowNonFinite) {
      const kind = bad & 3;
      throw nonFiniteError(kind === 0 ? NaN : kind === 1 ? Infinity : -Infinity, bad >>> 2, shape);
    }
    clock('finish');
    return { flags, selfnormStats };
  }

  async instanceStats(batch: FeatureBatch, eps: number): Promise<InstanceStats> {
    validateBatch(batch, { allowNonFinite: true });
    const b = this.slotBuffers(OWN_SLOT, batch.shape);
    await this.stage(b, batch);
    this.writeParams(b, batch.shape[3], identityPlan(batch.shape[0]), null);
    const encoder = this.device.createCommandEncoder();
    this.encodeCopyIn(encoder, b);
    this.encodeStats(encoder, b);
    encoder.copyBufferToBuffer(b.stats, 0, b.statsRead, 0, b.planes * STATS_PER_PLANE * 4);
    this.device.queue.submit([encoder.finish()]);
    this.remapUpload(b);
    await whileGpuWorks(b.statsRead.mapAsync(GPUMapMode.READ));
    const stats = new Float32Array(b.statsRead.getMappedRange());
    const mean = new Float64Array(b.planes);
    const std = new Float64Array(b.planes);
    // Without a content box the first region is the whole map; its mean is of x - pivot.
    for (let p = 0, at = 0; p < b.planes; p++, at += STATS_PER_PLANE) {
      const m = stats[at + 1] as number;
      [mean[p], std[p]] = meanStd(b.hw * m, (stats[at + 2] as number) + b.hw * m * m, b.hw, eps);
      mean[p] = (mean[p] as number) + (stats[at + 9] as number);
    }
    b.statsRead.unmap();
    return { mean, std };
  }

  async dispose(): Promise<void> {
    for (const b of this.slots.values()) this.buffers.release(b);
    this.slots.clear();
    this.device.destroy();
  }

  /** The slot's buffers for this shape: kept from its last batch, or made afresh. */
  private slotBuffers(slot: number, shape: Shape4): BatchBuffers {
    const [N, C, H, W] = shape;
    const b = this.slots.get(slot);
    if (b?.n === N && b.c === C && b.hw === H * W) return b;
    if (b) this.buffers.release(b);
    this.slots.delete(slot);
    const made = this.buffers.forBatch(N, C, H * W, this.bindingLimit, this.pipelines);
    this.slots.set(slot, made);
    return made;
  }

  /** The staging's mapped range, once the GPU has read the slot's last batch from it. */
  private async mappedUpload(b: BatchBuffers): Promise<ArrayBuffer> {
    if (b.uploadRange) return b.uploadRange;
    const failed = await whileGpuWorks(b.uploadMapped);
    if (failed) throw failed;
    b.uploadRange ??= b.upload.getMappedRange();
    return b.uploadRange;
  }

  /**
   * The input into staging (no copy when it was received there), staging unmapped for the GPU, and
   * the slot's last result released. A mapped staging buffer moved 205 MB in 23 ms on an H200
   * where queue.writeBuffer took 75 ms.
   */
  private async stage(b: BatchBuffers, batch: FeatureBatch): Promise<void> {
    const range = await this.mappedUpload(b);
    if (batch.data.buffer !== range || batch.data.byteOffset !== STAGING_HEADROOM) {
      new Float32Array(range, STAGING_HEADROOM, b.count).set(batch.data);
      this.staged.copied++;
    } else this.staged.inPlace++;
    this.unmapForGpu(b);
  }

  /** Staging unmapped for the GPU to copy from, and the slot's last result released. */
  private unmapForGpu(b: BatchBuffers): void {
    b.upload.unmap();
    b.uploadRange = null;
    if (b.readMapped) b.read.unmap();
    b.readMapped = false;
  }

  /** Re-maps staging as soon as its copy is submitted (the slot's next batch waits for it). */
  private remapUpload(b: BatchBuffers): void {
    b.uploadMapped = b.upload.mapAsync(GPUMapMode.WRITE).then(
      () => null,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Every uniform and small buffer the batch's passes read, written before its submission. */
  private writeParams(
    b: BatchBuffers,
    width: number,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    dtype: 'float32' | HalfDtype = 'float32',
  ): void {
    const { queue } = this.device;
    const content = plan.fires ? plan.contentBox : null;
    const style = plan.fires ? plan.styleBox : null;
    queue.writeBuffer(b.bad, 0, new Uint32Array([ALL_FINITE, ALL_FINITE, 0, 0]));
    if (dtype !== 'float32') {
      const groups = Math.ceil(b.count / WIRE_THREADS);
      const params = [b.count, WIRE_CODES[dtype], Math.min(groups, MAX_GROUPS_PER_DIM), 0];
      queue.writeBuffer(b.wireParams, 0, new Uint32Array(params));
    }
    for (const s of b.segments) {
      const stats = new Uint32Array(16);
      stats.set([s.planes, b.hw, width, (content ? 1 : 0) | (style ? 2 : 0)]);
      if (content) stats.set(content, 4);
      if (style) stats.set(style, 8);
      stats[12] = s.planeOffset;
      queue.writeBuffer(s.statsParams, 0, stats);
      const apply = new Uint32Array(12);
      apply.set([s.count, b.hw, width, content ? 1 : 0]);
      if (content) apply.set(content, 4);
      apply[8] = Math.min(Math.ceil(s.count / APPLY_THREADS), MAX_GROUPS_PER_DIM);
      apply[9] = s.planeOffset;
      queue.writeBuffer(s.applyParams, 0, apply);
    }
    const coef = coefInputs(b.n, b.c, b.hw, plan, selfnorm);
    queue.writeBuffer(b.coefParams, 0, coef.params);
    queue.writeBuffer(b.plan, 0, coef.plan);
    if (selfnorm) queue.writeBuffer(b.chan, 0, coef.chan);
  }

  /** The batch's GPU work: its copy in, its passes and its copy out, or one of them. */
  private encode(
    b: BatchBuffers,
    part: 'all' | 'copyIn' | 'compute' | 'copyOut',
    dtype: 'float32' | HalfDtype,
  ): GPUCommandEncoder {
    const encoder = this.device.createCommandEncoder();
    const halfBytes = Math.ceil(b.count / 2) * 4;
    if (part === 'all' || part === 'copyIn') {
      if (dtype === 'float32') this.encodeCopyIn(encoder, b);
      else encoder.copyBufferToBuffer(b.upload, STAGING_HEADROOM, b.half, 0, halfBytes);
    }
    if (part === 'all' || part === 'compute') {
      if (dtype !== 'float32') this.encodeWire(encoder, b, 'widen');
      this.encodeStats(encoder, b);
      this.encodeCoefficients(encoder, b);
      this.encodeApply(encoder, b);
      if (dtype !== 'float32') this.encodeWire(encoder, b, 'narrow');
    }
    if (part === 'all' || part === 'copyOut') {
      if (dtype !== 'float32') encoder.copyBufferToBuffer(b.half, 0, b.read, 0, halfBytes);
      else
        for (const s of b.segments) encoder.copyBufferToBuffer(s.data, 0, b.read, s.offset * 4, s.count * 4);
      encoder.copyBufferToBuffer(b.bad, 0, b.info, 0, FLAG_BYTES);
      encoder.copyBufferToBuffer(b.bnStats, 0, b.info, FLAG_BYTES, b.c * BN_STATS_PER_CHANNEL * 4);
    }
    return encoder;
  }

  /** A 16-bit wire's values into float32 (widen), or the output back (narrow, then its overflow's value). */
  private encodeWire(encoder: GPUCommandEncoder, b: BatchBuffers, step: 'widen' | 'narrow'): void {
    const [widen, narrow, fetch] = this.pipelines.wire as [
      GPUComputePipeline,
      GPUComputePipeline,
      GPUComputePipeline,
    ];
    // The row width of the uniform block counts widen's threads; narrow's (one per two values) fit in it.
    const x = Math.min(Math.ceil(b.count / WIRE_THREADS), MAX_GROUPS_PER_DIM);
    const threads = step === 'widen' ? b.count : Math.ceil(b.count / 2);
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, b.wireGroup);
    pass.setPipeline(step === 'widen' ? widen : narrow);
    pass.dispatchWorkgroups(x, Math.ceil(Math.ceil(threads / WIRE_THREADS) / x));
    if (step === 'narrow') {
      pass.setPipeline(fetch);
      pass.dispatchWorkgroups(1);
    }
    pass.end();
  }

  /** The three parts submitted and waited for one by one, each its own phase. */
  private async submitProfiled(
    b: BatchBuffers,
    dtype: 'float32' | HalfDtype,
    clock: (phase: WebGpuPhase) => void,
  ): Promise<void> {
    for (const part of ['copyIn', 'compute'] as const) {
      this.device.queue.submit([this.encode(b, part, dtype).finish()]);
      await whileGpuWorks(this.device.queue.onSubmittedWorkDone());
      clock(part);
    }
    this.device.queue.submit([this.encode(b, 'copyOut', dtype).finish()]);
  }

  private encodeCopyIn(encoder: GPUCommandEncoder, b: BatchBuffers): void {
    for (const s of b.segments)
      encoder.copyBufferToBuffer(b.upload, STAGING_HEADROOM + s.offset * 4, s.data, 0, s.count * 4);
  }

  /** Pass 1: (n, mean, M2) per plane and region, and the first non-finite value. */
  private encodeStats(encoder: GPUCommandEncoder, b: BatchBuffers): void {
    const small = b.hw <= SMALL_MAP;
    const pass = encoder.beginComputePass();
    pass.setPipeline(small ? this.pipelines.statsSmall : this.pipelines.stats);
    for (const s of b.segments) {
      // A thread per plane (small maps) or a workgroup per plane.
      const groups = small ? Math.ceil(s.planes / STATS_THREADS) : s.planes;
      pass.setBindGroup(0, s.statsGroup);
      pass.dispatchWorkgroups(Math.min(groups, MAX_GROUPS_PER_DIM), Math.ceil(groups / MAX_GROUPS_PER_DIM));
    }
    pass.end();
  }

  /** The coefficients: CrossNorm per plane, BatchNorm per channel, the gates folded in per plane. */
  private encodeCoefficients(encoder: GPUCommandEncoder, b: BatchBuffers): void {
    const [crossnorm, batchnorm, coefficients] = this.pipelines.coef as [
      GPUComputePipeline,
      GPUComputePipeline,
      GPUComputePipeline,
    ];
    const [x, y] = planeGroups(b.planes);
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, b.coefGroup);
    pass.setPipeline(crossnorm);
    pass.dispatchWorkgroups(x, y);
    pass.setPipeline(batchnorm);
    pass.dispatchWorkgroups(Math.ceil(b.c / COEF_THREADS));
    pass.setPipeline(coefficients);
    pass.dispatchWorkgroups(x, y);
    pass.end();
  }

  /** Pass 2: the affine map in place. */
  private encodeApply(encoder: GPUCommandEncoder, b: BatchBuffers): void {
    const pass = encoder.beginComputePass();
    pass.setPipeline(this.pipelines.apply);
    for (const s of b.segments) {
      const groups = Math.ceil(s.count / APPLY_THREADS);
      const x = Math.min(groups, MAX_GROUPS_PER_DIM);
      pass.setBindGroup(0, s.applyGroup);
      pass.dispatchWorkgroups(x, Math.ceil(groups / x));
    }
    pass.end();
  }

  /** A function that reports the time since its last call as a phase (nothing without onPhase). */
  private clock(): (phase: WebGpuPhase) => void {
    const onPhase = this.options.onPhase;
    if (!onPhase) return () => undefined;
    let mark = performance.now();
    return (phase) => {
      const now = performance.now();
      onPhase(phase, now - mark);
      mark = now;
    };
  }
}

type Compiled = GpuPipelines & {
  stats: GPUComputePipeline;
  statsSmall: GPUComputePipeline;
  coef: GPUComputePipeline[];
  wire: GPUComputePipeline[];
};

/** Compiles the passes: statistics and affine with their own layouts, the coefficients' three entry points on one. */
function compilePasses(device: GPUDevice): Compiled {
  const pipeline = (code: string): GPUComputePipeline =>
    device.createComputePipeline({
      layout: 'auto',
      compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
    });
  const storage = (type: GPUBufferBindingType) => ({ buffer: { type }, visibility: GPUShaderStage.COMPUTE });
  const coefLayout = device.createBindGroupLayout({
    entries: [
      ...(['read-only-storage', 'read-only-storage', 'read-only-storage'] as const).map(storage),
      ...(['storage', 'storage', 'storage', 'storage', 'uniform'] as const).map(storage),
    ].map((entry, binding) => ({ ...entry, binding })),
  });
  const statsLayout = device.createBindGroupLayout({
    entries: (['read-only-storage', 'storage', 'uniform', 'storage'] as const)
      .map(storage)
      .map((entry, binding) => ({ ...entry, binding })),
  });
  const wireLayout = device.createBindGroupLayout({
    entries: (['storage', 'storage', 'uniform', 'storage'] as const)
      .map(storage)
      .map((entry, binding) => ({ ...entry, binding })),
  });
  const entryPoints = (group: GPUBindGroupLayout, code: string, names: string[]): GPUComputePipeline[] => {
    const layout = device.createPipelineLayout({ bindGroupLayouts: [group] });
    const module = device.createShaderModule({ code });
    return names.map((entryPoint) =>
      device.createComputePipeline({ layout, compute: { module, entryPoint } }),
    );
  };
  const [stats, statsSmall] = entryPoints(statsLayout, STATS_SHADER, ['main', 'small']) as [
    GPUComputePipeline,
    GPUComputePipeline,
  ];
  return {
    stats,
    statsSmall,
    statsLayout,
    apply: pipeline(APPLY_SHADER),
    coefLayout,
    wireLayout,
    coef: entryPoints(coefLayout, COEF_SHADER, ['crossnorm', 'batchnorm', 'coefficients']),
    wire: entryPoints(wireLayout, WIRE_SHADER, ['widen', 'narrow', 'fetch']),
  };
}

/** The BatchNorm batch statistics of each gate, as computed on the GPU (train mode). */
function batchStats(info: ArrayBuffer, C: number, selfnorm: SelfNormConfig): SelfNormBatchStats {
  const all = new Float32Array(info, FLAG_BYTES, C * BN_STATS_PER_CHANNEL);
  const gate = (k: number): BatchNormBatchStats => {
    const mean = new Float64Array(C);
    const variance = new Float64Array(C);
    const unbiasedVar = new Float64Array(C);
    for (let c = 0, at = k; c < C; c++, at += BN_STATS_PER_CHANNEL) {
      mean[c] = all[at] as number;
      variance[c] = all[at + 1] as number;
      unbiasedVar[c] = all[at + 2] as number;
    }
    return { mean, var: variance, unbiasedVar };
  };
  return { g: gate(0), ...(selfnorm.params.fBn ? { f: gate(3) } : {}) };
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
