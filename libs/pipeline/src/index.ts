// Public API of @cnsn/pipeline: Redis and BullMQ plumbing. It moves tensors; it never computes on them.
export type { BatchContext, BatchProcessor, ProcessedMeta } from './batch-processor.js';
export type { DeliveredBatch } from './collector.js';
export { BatchFailedError, EnqueueRefusedError, RedisConnectionError } from './errors.js';
export { silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { Pipeline } from './pipeline.js';
export type { OpenRunOptions, PipelineOptions } from './pipeline.js';
export { PipelineRun } from './pipeline-run.js';
export type { PipelineRunEvents } from './pipeline-run.js';
export { checkRedisConfig, connectRedis, redactUrl } from './redis-connection.js';
export type { RedisTarget } from './redis-connection.js';
export type { RunCounters } from './run-store.js';
export type { PipelineStatus, RunStatus } from './status.js';
export type { TensorLike } from './tensor-input.js';
export { listWorkers, WORKER_TTL_MS } from './worker-registry.js';
export type { WorkerInfo } from './worker-registry.js';
export { WORKER_LOCK, WorkerRuntime } from './worker-runtime.js';
export type { WorkerRuntimeEvents, WorkerRuntimeOptions, WorkerState } from './worker-runtime.js';
