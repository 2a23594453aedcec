// Public API of @cnsn/kernels: the CrossNorm / SelfNorm maths. No I/O, nothing of Redis.
export { BACKEND_ALIASES, BACKEND_NAMES, validateRequest } from './backend.js';
export type {
  AugmentRequest,
  AugmentResult,
  BackendName,
  ConcreteBackendName,
  InstanceStats,
  KernelBackend,
} from './backend.js';
export { MAX_BOX_DRAWS, sampleBox, validateBox } from './box-sampler.js';
export type { Box, BoxSamplerOptions } from './box-sampler.js';
export { computeCoefficients, CROSSNORM_EPS, SELFNORM_EPS } from './coefficients.js';
export type { BatchNormBatchStats, Coefficients, SelfNormBatchStats } from './coefficients.js';
export { createBackend, parseBackendName } from './create-backend.js';
export type { CreatedBackend } from './create-backend.js';
export { BackendUnavailableError, KernelInputError } from './errors.js';
export { FusedBackend } from './fused-backend.js';
export { BORROW_HEADROOM } from './fused-engine.js';
export { GOLDEN_ATOL, GOLDEN_RTOL, runGoldenCase, runGoldenSet } from './golden-check.js';
export type { CaseOutcome, GoldenReader } from './golden-check.js';
export { goldenCaseSchema, goldenManifestSchema, parseGoldenManifest } from './golden-manifest.js';
export type { GoldenCase } from './golden-manifest.js';
export { CROPS, DEFAULT_CROSSNORM_OPTIONS, resolveCrossNormOptions } from './options.js';
export type { Crop, CrossNormOptions } from './options.js';
export { identityPlan, makePlan, validatePlan } from './plan.js';
export { instanceMeanStd } from './instance-stats.js';
export type { CrossNormPlan, PlanStream } from './plan.js';
export { Rng } from './rng.js';
export {
  defaultSelfNormParams,
  isTwoGate,
  validateSelfNormConfig,
  validateSelfNormParams,
} from './selfnorm-params.js';
export type {
  BatchNormParams,
  DefaultSelfNormOptions,
  SelfNormConfig,
  SelfNormMode,
  SelfNormParams,
} from './selfnorm-params.js';
export { instanceStats } from './stats.js';
export { sizeOf, validateBatch, validateShape } from './tensor.js';
export type { FeatureBatch, Shape4, ValidateBatchOptions } from './tensor.js';
export { TfjsBackend } from './tfjs-backend.js';
export type { TfjsBackendName } from './tfjs-backend.js';
export { loadTfjs } from './tfjs-loader.js';
export type { LoadedTfjs, Tf, TfjsFlavour } from './tfjs-loader.js';
export {
  describeAdapter,
  isCpuAdapter,
  listWebGpuAdapters,
  openWebGpu,
  WEBGPU_INSTALL_HINT,
} from './webgpu-adapter.js';
export type { GpuAdapterInfo, OpenedWebGpu } from './webgpu-adapter.js';
export { WebGpuBackend } from './webgpu-backend.js';
export type { HalfDtype, HalfResult, WebGpuOptions, WebGpuPhase } from './webgpu-backend.js';
export { type HalfSimd, halfSimd } from './half-simd.js';
export type { HalfKind } from './fused-engine.js';
export type { HalfResultSync } from './fused-backend.js';
