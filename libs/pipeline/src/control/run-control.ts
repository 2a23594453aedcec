import type { BatchJobData, FailureRecord } from '@cnsn/protocol';

/** A batch job's life as the core sees it. */
export type JobState = 'alive' | 'finished' | 'missing';

/**
 * The control plane of one run, as the ordered core (core/) needs it: jobs, failure records,
 * wake-ups and the cursor. Redis and BullMQ are the real one (RedisRunControl); the unit tests use
 * an in-memory one. Every call is idempotent, so the core may repeat any of them after a fault.
 */
export interface RunControl {
  /**
   * Queues batch `job.seq`'s job. Its id is deterministic, so this is a no-op while the job exists;
   * with `again`, a finished job (done or given up, with no outcome to show) is dropped first and
   * queued anew.
   */
  submit(job: BatchJobData, again?: boolean): Promise<void>;
  /** Whether batch `seq`'s job is waiting or running, finished, or unknown. */
  jobState(seq: number): Promise<JobState>;
  /** Batch `seq` went onto the data plane with `bytes` of input (first enqueue only). */
  recordEnqueued(seq: number, bytes: number): Promise<void>;
  /** The driver could not enqueue a batch: it fails with this record and keeps its number. */
  reject(record: FailureRecord): Promise<void>;
  /** The driver gave up on an enqueued batch (lost too often): it fails with this record. */
  giveUp(record: FailureRecord): Promise<void>;
  /** Batch `seq`'s failure record (a worker refused it, or the driver did), or null. */
  failure(seq: number): Promise<FailureRecord | null>;
  /** Batch `seq` was handed over (or skipped): the cursor moves past it. */
  delivered(seq: number, skipped: boolean, bytesOut: number): Promise<void>;
  /** Waits until a worker signals progress on the run, or `timeoutMs`; true when signalled. */
  waitForProgress(timeoutMs: number): Promise<boolean>;
  /** Stores a SelfNorm parameter set (content hash, canonical JSON) that later jobs name. */
  addParams(hash: string, json: string): Promise<void>;
  markEnded(total: number): Promise<void>;
  markFailed(): Promise<void>;
  close(): Promise<void>;
}
