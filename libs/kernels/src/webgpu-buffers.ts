import { KernelInputError } from './errors.js';
import { BN_STATS_PER_CHANNEL, CHAN_VEC4S, COEF_PARAMS_BYTES } from './webgpu-coef-shader.js';
import { STATS_PER_PLANE } from './webgpu-shaders.js';
import { WIRE_PARAMS_BYTES } from './webgpu-wire-shader.js';

/**
 * Bytes before the values in a staging buffer: room for a tensor blob's header, so that a worker
 * receives a whole blob straight into mapped GPU memory (the header lands here, the values where
 * the GPU copies them from).
 */
export const STAGING_HEADROOM = 4096;

/**
 * Whole planes of a batch that fit one storage binding, with their own GPU buffers: a batch larger
 * than the GPU's largest binding (128 MiB on lavapipe) runs as several segments in one submission.
 */
export interface Segment {
  /** First plane (n * C + c) of the segment and how many planes it holds. */
  planeOffset: number;
  planes: number;
  /** Float offset of the segment in the batch, and its length in floats. */
  offset: number;
  count: number;
  data: GPUBuffer;
  statsParams: GPUBuffer;
  applyParams: GPUBuffer;
  statsGroup: GPUBindGroup;
  applyGroup: GPUBindGroup;
}

/** The GPU buffers of one slot for one batch shape, kept for the slot's next batch of that shape. */
export interface BatchBuffers {
  n: number;
  c: number;
  hw: number;
  count: number;
  planes: number;
  /** Host-visible staging: STAGING_HEADROOM bytes, then the batch, copied to the segments on the GPU. */
  upload: GPUBuffer;
  /** Host-visible read-back of the output; stays mapped (the result is sent from it) until the slot's next batch. */
  read: GPUBuffer;
  /** Host-visible read-back of `bad` (FLAG_BYTES) then `bnStats`. */
  info: GPUBuffer;
  /** Host-visible read-back of `stats`, for instanceStats. */
  statsRead: GPUBuffer;
  stats: GPUBuffer;
  /** Flags (u32): the first non-finite input, the first float16 overflow of the output and its value. */
  bad: GPUBuffer;
  /** A 16-bit wire's values, two per word: the input as received, then the output to send. */
  half: GPUBuffer;
  wireParams: GPUBuffer;
  /** The 16-bit conversion's bind group; null for a batch of several segments (converted on the host). */
  wireGroup: GPUBindGroup | null;
  plan: GPUBuffer;
  chan: GPUBuffer;
  /** The coefficient passes' per-plane (a, b, z) and per-channel (scale, shift) between entry points. */
  tmp: GPUBuffer;
  norm: GPUBuffer;
  bnStats: GPUBuffer;
  /** (alphaIn, betaIn, alphaOut, betaOut) per plane, what the affine pass reads. */
  coef: GPUBuffer;
  coefParams: GPUBuffer;
  coefGroup: GPUBindGroup;
  segments: Segment[];
  /**
   * Settles when `upload` is mapped for writing again (the error when the map failed): staging is
   * re-mapped as soon as its copy is submitted, so the slot's next batch waits on nothing but the
   * GPU having read the last one.
   */
  uploadMapped: Promise<Error | null>;
  /** `upload`'s mapped range while it is mapped and handed out (getMappedRange once per mapping). */
  uploadRange: ArrayBuffer | null;
  /** Whether `read` is mapped (a result view on it may be alive). */
  readMapped: boolean;
}

/** Bytes of `bad`, and where the BatchNorm statistics start in `info`. */
export const FLAG_BYTES = 16;

/** Bytes of the uniform blocks (WGSL rounds a struct up to 16 bytes). */
export const STATS_PARAMS_BYTES = 64;
export const APPLY_PARAMS_BYTES = 48;

/** The compiled passes a slot's bind groups are made for. */
export interface GpuPipelines {
  statsLayout: GPUBindGroupLayout;
  apply: GPUComputePipeline;
  coefLayout: GPUBindGroupLayout;
  wireLayout: GPUBindGroupLayout;
}

/** Makes and frees GPU buffers, counting the live ones so that tests can see none outlives its use. */
export class GpuBufferSet {
  private live = 0;

  constructor(private readonly device: GPUDevice) {}

  /** GPU buffers made and not yet destroyed. */
  get liveBuffers(): number {
    return this.live;
  }

  make(size: number, usage: number, mappedAtCreation = false): GPUBuffer {
    const buffer = this.device.createBuffer({
      size: Math.max(16, Math.ceil(size / 4) * 4),
      usage,
      mappedAtCreation,
    });
    this.live++;
    return buffer;
  }

  /**
   * The buffers for a batch of N x C planes of `hw` values: the planes split into segments of at
   * most `bindingLimit` bytes each.
   */
  forBatch(N: number, C: number, hw: number, bindingLimit: number, pipelines: GpuPipelines): BatchBuffers {
    const planes = N * C;
    const count = planes * hw;
    const perSegment = Math.floor(bindingLimit / (hw * 4));
    if (perSegment < 1)
      throw new KernelInputError(
        'input.shape',
        `one ${hw}-value plane (${hw * 4} bytes) exceeds this GPU's largest storage binding (${bindingLimit} bytes); use the fused backend`,
      );
    const maxBuffer = this.device.limits.maxBufferSize;
    if (STAGING_HEADROOM + count * 4 > maxBuffer || count >= 2 ** 30)
      throw new KernelInputError(
        'input.shape',
        `a batch of ${count * 4} bytes exceeds this GPU's largest buffer (${maxBuffer} bytes); send smaller batches or use the fused backend`,
      );
    const { STORAGE, COPY_DST, COPY_SRC, MAP_READ, MAP_WRITE, UNIFORM } = GPUBufferUsage;
    const stats = this.make(planes * STATS_PER_PLANE * 4, STORAGE | COPY_SRC);
    const bad = this.make(FLAG_BYTES, STORAGE | COPY_DST | COPY_SRC);
    // Only a batch of one segment converts on the GPU (one binding holds all its values).
    const half = this.make(planes <= perSegment ? count * 2 : 4, STORAGE | COPY_DST | COPY_SRC);
    const wireParams = this.make(WIRE_PARAMS_BYTES, UNIFORM | COPY_DST);
    const plan = this.make((N + C) * 4, STORAGE | COPY_DST);
    const chan = this.make(C * CHAN_VEC4S * 16, STORAGE | COPY_DST);
    const tmp = this.make(planes * 32, STORAGE);
    const norm = this.make(C * 16, STORAGE);
    const bnStats = this.make(C * BN_STATS_PER_CHANNEL * 4, STORAGE | COPY_SRC);
    const coef = this.make(planes * 16, STORAGE);
    const coefParams = this.make(COEF_PARAMS_BYTES, UNIFORM | COPY_DST);
    const segments: Segment[] = [];
    for (let planeOffset = 0; planeOffset < planes; planeOffset += perSegment) {
      const n = Math.min(perSegment, planes - planeOffset);
      const data = this.make(n * hw * 4, STORAGE | COPY_DST | COPY_SRC);
      const statsParams = this.make(STATS_PARAMS_BYTES, UNIFORM | COPY_DST);
      const applyParams = this.make(APPLY_PARAMS_BYTES, UNIFORM | COPY_DST);
      segments.push({
        planeOffset,
        planes: n,
        offset: planeOffset * hw,
        count: n * hw,
        data,
        statsParams,
        applyParams,
        statsGroup: this.group(pipelines.statsLayout, [data, stats, statsParams, bad]),
        applyGroup: this.group(pipelines.apply.getBindGroupLayout(0), [data, coef, applyParams]),
      });
    }
    return {
      n: N,
      c: C,
      hw,
      count,
      planes,
      upload: this.make(STAGING_HEADROOM + count * 4, MAP_WRITE | COPY_SRC, true),
      read: this.make(count * 4, MAP_READ | COPY_DST),
      info: this.make(FLAG_BYTES + C * BN_STATS_PER_CHANNEL * 4, MAP_READ | COPY_DST),
      statsRead: this.make(planes * STATS_PER_PLANE * 4, MAP_READ | COPY_DST),
      stats,
      bad,
      half,
      wireParams,
      wireGroup:
        segments.length === 1 && segments[0]
          ? this.group(pipelines.wireLayout, [half, segments[0].data, wireParams, bad])
          : null,
      plan,
      chan,
      tmp,
      norm,
      bnStats,
      coef,
      coefParams,
      coefGroup: this.group(pipelines.coefLayout, [stats, plan, chan, tmp, norm, bnStats, coef, coefParams]),
      segments,
      uploadMapped: Promise.resolve(null),
      uploadRange: null,
      readMapped: false,
    };
  }

  release(b: BatchBuffers): void {
    const all = [b.upload, b.read, b.info, b.statsRead, b.stats, b.bad, b.half, b.wireParams, b.plan, b.chan];
    all.push(b.tmp, b.norm, b.bnStats, b.coef, b.coefParams);
    for (const s of b.segments) all.push(s.data, s.statsParams, s.applyParams);
    for (const buffer of all) {
      buffer.destroy();
      this.live--;
    }
  }

  private group(layout: GPUBindGroupLayout, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }
}
