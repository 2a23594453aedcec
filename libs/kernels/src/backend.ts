import type { SelfNormBatchStats } from './coefficients.js';
import { KernelInputError, show } from './errors.js';
import { type CrossNormPlan, validatePlan } from './plan.js';
import { type SelfNormConfig, validateSelfNormConfig } from './selfnorm-params.js';
import { type FeatureBatch, type Shape4, validateBatch, validateShape } from './tensor.js';
import type { GpuAdapterInfo } from './webgpu-adapter.js';

/**
 * Backends a worker can be asked for. `auto`: a GPU backend on a hardware GPU (webgpu, or
 * tfjs-tensorflow on tfjs-node-gpu), never on a CPU Vulkan driver; else fused.
 */
export const BACKEND_NAMES = [
  'auto',
  'fused',
  'fused-js',
  'webgpu',
  'tfjs-tensorflow',
  'tfjs-wasm',
  'tfjs-cpu',
] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/**
 * Names a backend had before: still taken (with one notice), so deployments that pass them keep
 * working. `tfjs-webgpu` ran WGSL on Dawn and no tfjs: it is `webgpu`.
 */
export const BACKEND_ALIASES: Readonly<Record<string, BackendName>> = { 'tfjs-webgpu': 'webgpu' };
export type ConcreteBackendName = Exclude<BackendName, 'auto'>;

/** What to do to one batch: the CrossNorm plan and, optionally, SelfNorm. */
export interface AugmentRequest {
  plan: CrossNormPlan;
  /** SelfNorm after CrossNorm; null for CrossNorm only. */
  selfnorm: SelfNormConfig | null;
  /**
   * Let NaN and Inf input values through instead of refusing the batch.
   * @defaultValue false
   */
  allowNonFinite?: boolean;
}

export interface AugmentResult {
  /** The augmented batch, NCHW float32, same shape as the input. */
  data: Float32Array;
  /** BatchNorm batch statistics of each SelfNorm gate in train mode; null otherwise. */
  selfnormStats: SelfNormBatchStats | null;
}

export interface InstanceStats {
  mean: Float64Array;
  std: Float64Array;
}

/** One implementation of the CrossNorm -> SelfNorm chain. All backends pass the same golden cases. */
export interface KernelBackend {
  readonly name: ConcreteBackendName;
  /** Human-readable detail, e.g. "fused (wasm-simd)" or "tfjs-tensorflow (GPU)". */
  readonly description: string;
  /** The WebGPU adapter it runs on (webgpu); absent for the others. */
  readonly adapter?: GpuAdapterInfo;
  /** Applies the request; `out` (same length as the input, may be the input itself) avoids an allocation. */
  augment(batch: FeatureBatch, request: AugmentRequest, out?: Float32Array): Promise<AugmentResult>;
  /** Instance mean and sqrt(unbiased variance + eps) per (n, c). */
  instanceStats(batch: FeatureBatch, eps: number): Promise<InstanceStats>;
  /** Releases what the backend holds. */
  dispose(): Promise<void>;
}

/** Checks a whole request against its batch once, so every backend refuses the same bad input the same way. */
export function validateRequest(
  batch: FeatureBatch,
  request: AugmentRequest,
  options: { scanFinite: boolean } = { scanFinite: true },
): void {
  validateBatch(batch, { allowNonFinite: !options.scanFinite || (request.allowNonFinite ?? false) });
  validateRequestFor(batch.shape, request);
}

/** Checks a request's plan and SelfNorm against a batch shape (the values are checked elsewhere). */
export function validateRequestFor(shape: Shape4, request: AugmentRequest): void {
  validateShape(shape);
  validatePlan(request.plan, shape);
  if (request.selfnorm) {
    validateSelfNormConfig(request.selfnorm, shape[1]);
    if (request.selfnorm.mode === 'train' && shape[0] < 2) {
      throw new KernelInputError(
        'selfnorm.mode',
        `train mode needs a batch of at least 2, got N = ${shape[0]} (BatchNorm over one value per channel has no variance; PyTorch refuses it too); use eval`,
      );
    }
  }
}

export function checkOut(out: Float32Array | undefined, length: number): Float32Array {
  if (out === undefined) return new Float32Array(length);
  if (!(out instanceof Float32Array) || out.length !== length) {
    throw new KernelInputError(
      'out',
      `expected a Float32Array of length ${length}, got ${show(out?.length)}`,
    );
  }
  return out;
}
