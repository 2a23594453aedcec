import {
  BORROW_HEADROOM,
  type AugmentRequest,
  type CreatedBackend,
  describeAdapter,
  type CrossNormPlan,
  FusedBackend,
  type HalfDtype,
  instanceMeanStd,
  KernelInputError,
  type KernelBackend,
  makePlan,
  type SelfNormConfig,
  type SelfNormParams,
  type Shape4,
  WebGpuBackend,
} from '@cnsn/kernels';
import type { BatchContext, BatchProcessor, ProcessedMeta, ProcessorInput } from '@cnsn/pipeline';
import { float16RangeError, narrowFloat32, streamOf, type WireDtype, widenToFloat32 } from '@cnsn/protocol';

/**
 * The worker's augmentation: the batch's plan from its run's stream, then CrossNorm and
 * SelfNorm on the chosen backend. With `fused`, each concurrent slot has a backend of its own: the
 * input is received straight into that backend's memory, augmented in place, and the result sent
 * from there, with no copy in or out (the slot holds its backend until the batch is handed over).
 * With `webgpu`, each slot has GPU buffers of its own to the same end: the input is received into
 * the slot's mapped staging and the result sent from its mapped read-back.
 */
export class AugmentProcessor implements BatchProcessor {
  readonly backend: string;
  readonly backendDetail: string;
  readonly adapter: string;
  readonly stableOutput: boolean;
  private readonly created: CreatedBackend;
  private readonly slotBackends = new Map<number, FusedBackend>();
  /** The backend when it is webgpu: each slot then has its own GPU buffers. */
  private readonly gpu: WebGpuBackend | null;

  constructor(created: CreatedBackend) {
    this.created = created;
    this.backend = created.backend.name;
    this.backendDetail = `${created.backend.description}; ${created.reason}`;
    const adapter = created.backend.adapter;
    this.adapter = adapter ? describeAdapter(adapter) : '';
    this.gpu = created.backend instanceof WebGpuBackend ? created.backend : null;
    this.stableOutput = created.backend instanceof FusedBackend || this.gpu !== null;
  }

  async inputTarget(
    slot: number,
    shape: number[],
    blobBytes: number,
    dataOffset: number,
    wire: WireDtype,
  ): Promise<Uint8Array | null> {
    if (!isShape4(shape)) return null;
    // The GPU takes a 16-bit wire as it is and converts it itself; so does fused (wasm), inside
    // its two passes (fused-js widens on the way in).
    let framed: Uint8Array | null = null;
    const fused = this.fusedFor(slot);
    if (this.gpu) framed = await this.gpu.inputTarget(slot, shape, dataOffset, wire);
    else if (wire !== 'float32') framed = fused?.borrowFramedHalf(shape, dataOffset) ?? null;
    else if (dataOffset <= BORROW_HEADROOM) framed = fused?.borrowFramed(shape, dataOffset) ?? null;
    return framed?.length === blobBytes ? framed : null;
  }

  async inputFloats(slot: number, shape: number[]): Promise<Float32Array | null> {
    if (!isShape4(shape)) return null;
    if (this.gpu) return this.gpu.inputFloats(slot, shape);
    return this.fusedFor(slot)?.borrow(shape) ?? null;
  }

  async process(
    input: ProcessorInput,
    ctx: BatchContext,
    encode: (data: Float32Array | Uint16Array, meta: ProcessedMeta) => Uint8Array[],
  ): Promise<Uint8Array[]> {
    const { spec, seq } = ctx;
    const shape = input.shape as unknown as Shape4;
    // Batch `seq` of the run is position `start + seq` of its stream (seed, rank, epoch).
    const { rank, epoch, start } = streamOf(spec);
    const plan: CrossNormPlan = makePlan(shape, spec.seed, start + seq, spec.crossnorm, { rank, epoch });
    const selfnorm: SelfNormConfig | null = spec.selfnorm
      ? { mode: spec.selfnorm.mode, params: ctx.params as SelfNormParams }
      : null;
    const request = { plan, selfnorm, allowNonFinite: spec.allowNonFinite };
    if (input.halves && spec.wire !== 'float32') {
      const out = await this.augmentHalves(input.halves, shape, request, spec.wire, ctx.slot);
      const floats = spec.returnStats
        ? widenToFloat32(out.data, spec.wire, new Float32Array(out.data.length))
        : null;
      return encode(out.data, this.meta(spec, plan, { ...out, data: floats }, shape));
    }
    const fused = this.fusedFor(ctx.slot);
    if (fused) {
      const buffer = fused.borrow(shape);
      // Received in place already (inputTarget), or copied in once.
      if (input.data.buffer !== buffer.buffer || input.data.byteOffset !== buffer.byteOffset)
        buffer.set(input.data);
      const result = fused.augmentSync({ data: buffer, shape }, request, buffer);
      return encode(result.data, this.meta(spec, plan, result, shape));
    }
    // On the GPU the result is a view of the slot's mapped read-back, sent from there.
    const result = this.gpu
      ? await this.gpu.augmentIn(ctx.slot, { data: input.data, shape }, request)
      : await this.created.backend.augment({ data: input.data, shape }, request);
    return encode(result.data, this.meta(spec, plan, result, shape));
  }

  /**
   * A 16-bit batch where inputTarget put it, converted inside the backend's passes; a float16
   * output out of range fails the batch with the protocol's error.
   */
  private async augmentHalves(
    halves: Uint16Array,
    shape: Shape4,
    request: AugmentRequest,
    wire: HalfDtype,
    slot: number,
  ): Promise<{ data: Uint16Array; selfnormStats: unknown }> {
    if (this.gpu) {
      const result = await this.gpu.augmentHalf(slot, shape, request, wire);
      if (result.overflow) throw float16RangeError(result.overflow.value, result.overflow.index);
      return result;
    }
    const fused = this.fusedFor(slot);
    if (!fused) throw new Error(`${this.backendDetail} takes no 16-bit input`);
    const result = fused.augmentHalfSync(shape, request, wire);
    if (result.overflow) refuseOverflow(fused, halves, shape, request);
    return result;
  }

  /** The plan, SelfNorm's batch statistics, and with `returnStats` the output's instance statistics. */
  private meta(
    spec: BatchContext['spec'],
    plan: CrossNormPlan,
    result: { data: Float32Array | null; selfnormStats?: unknown },
    shape: Shape4,
  ): ProcessedMeta {
    const meta: ProcessedMeta = { plan, selfnormStats: statsJson(result.selfnormStats) };
    if (!spec.returnStats || !result.data) return meta;
    // The run has no SelfNorm of the pipeline's (buildRunSpec): the output is CrossNorm's.
    const { mean, std } = instanceMeanStd(result.data, shape);
    return { ...meta, stats: { mean: Array.from(mean), std: Array.from(std) } };
  }

  isPermanent(err: unknown): boolean {
    return err instanceof KernelInputError;
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.created.backend, ...this.slotBackends.values()].map((b: KernelBackend) => b.dispose()),
    );
  }

  /** Slot 0 uses the backend made at start; further slots get fused backends of their own. */
  private fusedFor(slot: number): FusedBackend | null {
    const main = this.created.backend;
    if (!(main instanceof FusedBackend)) return null;
    if (slot === 0) return main;
    let backend = this.slotBackends.get(slot);
    if (!backend) {
      backend = new FusedBackend(main.name === 'fused-js' ? 'js' : 'wasm');
      this.slotBackends.set(slot, backend);
    }
    return backend;
  }
}

/** Float64Arrays as plain arrays, for the JSON meta of a result. */
function statsJson(stats: unknown): unknown {
  if (!stats || typeof stats !== 'object') return null;
  const out: Record<string, unknown> = {};
  for (const [gate, value] of Object.entries(stats as Record<string, Record<string, Float64Array>>)) {
    out[gate] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Array.from(v)]));
  }
  return out;
}

/** A 4-D shape of positive integers, the only kind a backend is asked to make room for. */
function isShape4(shape: number[]): shape is number[] & Shape4 {
  return shape.length === 4 && shape.every((d) => Number.isSafeInteger(d) && d > 0);
}

/**
 * Throws the protocol's error for a float16 output out of range, naming the value and index: the
 * batch again the float32 way from its input (still where it was received), narrowed by the
 * protocol, which refuses the first such value.
 */
function refuseOverflow(
  fused: FusedBackend,
  halves: Uint16Array,
  shape: Shape4,
  request: AugmentRequest,
): never {
  const input = widenToFloat32(halves, 'float16', new Float32Array(halves.length));
  const out = fused.augmentSync({ data: input, shape }, request).data;
  narrowFloat32(out, 'float16', new Uint16Array(out.length));
  throw new Error('a float16 output overflowed in the fused passes but not in the protocol');
}
