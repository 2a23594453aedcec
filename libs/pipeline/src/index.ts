// Public API of @cnsn/pipeline: Redis, BullMQ and the data planes. It moves tensors; it never computes on them.
export { withBackoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { BatchContext, BatchProcessor, ProcessedMeta, ProcessorInput } from './batch-processor.js';
export { BATCH_JOB_OPTIONS } from './control/batch-job-options.js';
export type { JobState, RunControl } from './control/run-control.js';
export type { DeliveredBatch } from './core/collector.js';
export { BufferPool } from './data-plane/buffer-pool.js';
export { Http1Client } from './data-plane/direct/http1-client.js';
export type { Http1Answer, Http1Request } from './data-plane/direct/http1-client.js';
export { Http1Server } from './data-plane/direct/http1-server.js';
export { HttpTransport } from './data-plane/direct/worker-transport.js';
export type { HttpTransportOptions, WorkerTransport } from './data-plane/direct/worker-transport.js';
export type { Http1ServerOptions } from './data-plane/direct/http1-server.js';
export type { Answer, Decision, RequestHead, Router } from './data-plane/direct/http-exchange.js';
export { InputMissingError } from './data-plane/data-plane.js';
export { readPlaced } from './data-plane/shm/shm-files.js';
export type {
  DriverDataPlane,
  DriverPlaneContext,
  PlacedData,
  PlacedTensors,
  WorkerDataPlane,
} from './data-plane/data-plane.js';
export {
  BatchFailedError,
  EnqueueRefusedError,
  RedisConnectionError,
  RunExistsError,
  RunFinishedError,
} from './errors.js';
export { Lifecycle } from './lifecycle.js';
export type { CleanupStep, LifecycleState } from './lifecycle.js';
export { silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { Pipeline } from './pipeline.js';
export type { DataPlaneChoice, DirectPlaneOptions, OpenRunOptions, PipelineOptions } from './pipeline.js';
export { PipelineRun } from './pipeline-run.js';
export type { PipelineRunEvents, PipelineRunParts, ResumeInfo } from './pipeline-run.js';
export { BlobConnection, IDEMPOTENT_COMMANDS } from './redis/blob-connection.js';
export type { BlobStore } from './redis/blob-connection.js';
export { openBlobStore } from './redis/blob-store.js';
export { ClusterBlobs } from './redis/cluster-blobs.js';
export type { ClusterBlobsOptions } from './redis/cluster-blobs.js';
export {
  checkRedisConfig,
  connectRedis,
  DEFAULT_CONNECT_TIMEOUT_MS,
  duplicateClient,
  isCluster,
  redactUrl,
  targetOf,
} from './redis/redis-connection.js';
export type { ConnectOptions, RedisClient, RedisTarget } from './redis/redis-connection.js';
export { RespParser } from './redis/resp-parser.js';
export type { RespReply } from './redis/resp-parser.js';
export { loadScript, SCRIPT_FILES } from './redis/scripts.js';
export { measureRedisThroughput } from './redis-throughput.js';
export type { RedisThroughput } from './redis-throughput.js';
export { TIMELINE_WINDOW_MS } from './run-state.js';
export type { FinishedRun, RunCounters } from './run-state.js';
export type { PipelineStatus, RunStatus } from './status.js';
export type { TensorLike } from './tensor-input.js';
export { pipelineDataset } from './tf-dataset.js';
export { listWorkers, WORKER_TTL_MS } from './worker-registry.js';
export type { WorkerInfo } from './worker-registry.js';
export { WORKER_LOCK, WorkerRuntime } from './worker-runtime.js';
export type { WorkerRuntimeEvents, WorkerRuntimeOptions, WorkerState } from './worker-runtime.js';
