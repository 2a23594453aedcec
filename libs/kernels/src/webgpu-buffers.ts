import { KernelInputError } from './errors.js';
import { STATS_PER_PLANE } from './webgpu-shaders.js';

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
  /** Host-visible staging the input is written into while mapped, then copied to `data` on the GPU. */
  upload: GPUBuffer;
  read: GPUBuffer;
  statsParams: GPUBuffer;
  applyParams: GPUBuffer;
  statsGroup: GPUBindGroup;
  applyGroup: GPUBindGroup;
}

/** The GPU buffers of one batch shape, kept for the next batch of that shape. */
export interface BatchBuffers {
  count: number;
  planes: number;
  hw: number;
  stats: GPUBuffer;
  statsRead: GPUBuffer;
  coef: GPUBuffer;
  segments: Segment[];
  /**
   * Settles when every segment's `upload` is mapped for writing again (the error when a map
   * failed): staging is re-mapped as soon as its copy is submitted, so the next batch waits on
   * nothing but the GPU having read the last one.
   */
  uploadsMapped: Promise<Error | null>;
}

/** Bytes of the uniform blocks (WGSL rounds a struct up to 16 bytes). */
export const STATS_PARAMS_BYTES = 64;
export const APPLY_PARAMS_BYTES = 48;

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
   * The buffers for a batch of `planes` planes of `hw` values: the planes split into segments of at
   * most `bindingLimit` bytes each.
   */
  forBatch(
    planes: number,
    hw: number,
    bindingLimit: number,
    groups: { stats: GPUComputePipeline; apply: GPUComputePipeline },
  ): BatchBuffers {
    const perSegment = Math.floor(bindingLimit / (hw * 4));
    if (perSegment < 1)
      throw new KernelInputError(
        'input.shape',
        `one ${hw}-value plane (${hw * 4} bytes) exceeds this GPU's largest storage binding (${bindingLimit} bytes); use the fused backend`,
      );
    const { STORAGE, COPY_DST, COPY_SRC, MAP_READ, MAP_WRITE, UNIFORM } = GPUBufferUsage;
    const stats = this.make(planes * STATS_PER_PLANE * 4, STORAGE | COPY_SRC);
    const statsRead = this.make(planes * STATS_PER_PLANE * 4, MAP_READ | COPY_DST);
    const coef = this.make(planes * 16, STORAGE | COPY_DST);
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
        upload: this.make(n * hw * 4, MAP_WRITE | COPY_SRC, true),
        read: this.make(n * hw * 4, MAP_READ | COPY_DST),
        statsParams,
        applyParams,
        statsGroup: this.group(groups.stats, [data, stats, statsParams]),
        applyGroup: this.group(groups.apply, [data, coef, applyParams]),
      });
    }
    return {
      count: planes * hw,
      planes,
      hw,
      stats,
      statsRead,
      coef,
      segments,
      uploadsMapped: Promise.resolve(null),
    };
  }

  release(b: BatchBuffers): void {
    const all = [b.stats, b.statsRead, b.coef];
    for (const s of b.segments) all.push(s.data, s.upload, s.read, s.statsParams, s.applyParams);
    for (const buffer of all) {
      buffer.destroy();
      this.live--;
    }
  }

  private group(pipeline: GPUComputePipeline, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }
}
