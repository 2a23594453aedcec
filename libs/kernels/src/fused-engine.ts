import type { SelfNormBatchStats } from './coefficients.js';
import type { CrossNormPlan } from './plan.js';
import type { SelfNormConfig } from './selfnorm-params.js';
import type { FeatureBatch, Shape4 } from './tensor.js';

/**
 * The two passes of the fused chain: gather sums (one read), turn them into per-plane affine
 * coefficients, then write `alpha * x + beta` per plane and region (one read, one write).
 * Implemented over plain TypedArrays and in WebAssembly SIMD; both pass the same golden cases.
 */
export interface FusedEngine {
  readonly name: 'js' | 'wasm-simd';
  /**
   * Runs the chain on a validated batch into `out` (which may be the input itself). Calls
   * `onNonFinite` when some input value is NaN or Inf (found for free from the sums).
   */
  run(
    batch: FeatureBatch,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    out: Float32Array,
    onNonFinite: () => void,
  ): SelfNormBatchStats | null;
  /** Instance mean and std (sqrt(unbiased var + eps)) of every plane, from the first pass alone. */
  stats(batch: FeatureBatch, eps: number): { mean: Float64Array; std: Float64Array };
  /**
   * A buffer for one batch of `shape` in the engine's own memory: a batch filled in place and
   * augmented with `out` set to the same array needs no copy in or out. Valid until the next borrow.
   * At least {@link BORROW_HEADROOM} bytes before it in the same ArrayBuffer are the caller's too.
   */
  borrow(shape: Shape4): Float32Array;
  /** The same buffer for 16-bit values, where the engine converts inside its passes (wasm-simd only). */
  borrowHalf?(shape: Shape4): Uint16Array;
  /** The chain on borrowHalf's batch, its output in the same 16 bits (see FusedWasmEngine.runHalf). */
  runHalf?(
    shape: Shape4,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    onNonFinite: () => void,
    dtype: HalfKind,
  ): HalfRun;
}

/**
 * Bytes before a borrowed buffer that its caller may use: room for a message header, so that a
 * framed batch can be received in one piece with its values landing in place.
 */
export const BORROW_HEADROOM = 256;

/** The 16-bit wires the fused engine converts inside its passes. */
export type HalfKind = 'bfloat16' | 'float16';

/** A 16-bit batch's output (a view of the engine's memory), and whether a value did not fit float16. */
export interface HalfRun {
  stats: SelfNormBatchStats | null;
  data: Uint16Array;
  overflow: boolean;
}
