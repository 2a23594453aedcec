import {
  type CreatedBackend,
  type CrossNormPlan,
  FusedBackend,
  KernelInputError,
  makePlan,
  type SelfNormConfig,
  type SelfNormParams,
  type Shape4,
} from '@cnsn/kernels';
import type { BatchContext, BatchProcessor, ProcessedMeta } from '@cnsn/pipeline';

/**
 * The worker's augmentation: the batch's plan from (run seed, batch number), then CrossNorm and
 * SelfNorm on the chosen backend. With `fused`, the input is copied straight into the backend's
 * own buffer and augmented in place, and the result is encoded from there: no other copy.
 */
export class AugmentProcessor implements BatchProcessor {
  readonly backend: string;
  readonly backendDetail: string;
  private readonly created: CreatedBackend;

  constructor(created: CreatedBackend) {
    this.created = created;
    this.backend = created.backend.name;
    this.backendDetail = `${created.backend.description}; ${created.reason}`;
  }

  async process(
    input: { shape: number[]; data: Float32Array },
    ctx: BatchContext,
    encode: (data: Float32Array, meta: ProcessedMeta) => Uint8Array[],
  ): Promise<Uint8Array[]> {
    const { spec, seq } = ctx;
    const shape = input.shape as unknown as Shape4;
    const plan: CrossNormPlan = makePlan(shape, spec.seed, seq, spec.crossnorm);
    const selfnorm: SelfNormConfig | null = spec.selfnorm
      ? { mode: spec.selfnorm.mode, params: ctx.params as SelfNormParams }
      : null;
    const request = { plan, selfnorm, allowNonFinite: spec.allowNonFinite };
    const backend = this.created.backend;
    if (backend instanceof FusedBackend) {
      const buffer = backend.borrow(shape);
      buffer.set(input.data);
      const result = backend.augmentSync({ data: buffer, shape }, request, buffer);
      return encode(result.data, { plan, selfnormStats: statsJson(result.selfnormStats) });
    }
    const result = await backend.augment({ data: input.data, shape }, request);
    return encode(result.data, { plan, selfnormStats: statsJson(result.selfnormStats) });
  }

  isPermanent(err: unknown): boolean {
    return err instanceof KernelInputError;
  }

  async close(): Promise<void> {
    await this.created.backend.dispose();
  }
}

/** Float64Arrays as plain arrays, for the JSON meta of a result. */
function statsJson(stats: unknown): unknown {
  return JSON.parse(
    JSON.stringify(stats ?? null, (_k, v: unknown) =>
      ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v,
    ),
  );
}
