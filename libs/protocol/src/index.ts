// Public API of @cnsn/protocol: what travels between driver, Redis and workers, and its checks.
export {
  CROPS,
  crossNormOptionsSchema,
  firstIssue,
  SELFNORM_MODES,
  selfNormParamsSchema,
} from './augment-options.js';
export type {
  CrossNormRequest,
  CrossNormSpec,
  SelfNormModeSpec,
  SelfNormParamsSpec,
} from './augment-options.js';
export { ProtocolError } from './errors.js';
export { batchJobDataSchema, parseBatchJobData, RUN_SECRET_PATTERN } from './job-data.js';
export type { BatchJobData, BatchStatus, FailureRecord, ResultMeta } from './job-data.js';
export {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  FINISHED_RETENTION_S,
  INCARNATION_PATTERN,
  jobId,
  Keyspace,
  RUN_ID_PATTERN,
} from './keys.js';
export { formatNpy, parseNpy } from './npy.js';
export type { NpyArray } from './npy.js';
export { canonicalJson, contentHash } from './params-hash.js';
export { buildRunSpec, checkSelfNormParams } from './run-options.js';
export { RUN_OPTIONS, runOption, runOptionDefault } from './run-option-declarations.js';
export type { OptionKind, RunOptionDeclaration } from './run-option-declarations.js';
export { runOptionTable } from './run-option-table.js';
export type { BuiltRunSpec, RunRequest } from './run-options.js';
export { DATA_PLANE_JOBS, DATA_PLANES, ON_ERROR, parseRunSpec, runSpecSchema, streamOf } from './run-spec.js';
export type { DataPlaneKind, OnError, RunSpec } from './run-spec.js';
export {
  decodeTensorBlob,
  DEFAULT_MAX_BLOB_BYTES,
  encodeTensorBlob,
  encodeTensorBlobParts,
  readTensorBlobHeader,
  readTensorBlobPrefix,
  tensorBlobPrefix,
} from './tensor-blob.js';
export type { TensorBlob, TensorBlobHeader, TensorBlobPrefix } from './tensor-blob.js';
export {
  bytesPerValue,
  FLOAT16_MAX,
  float16RangeError,
  narrowFloat32,
  WIRE_DTYPES,
  widenToFloat32,
} from './wire-dtype.js';
export type { WireDtype } from './wire-dtype.js';
