/** A batch failed for good (bad input) and the run's policy is `fail`: names the batch and why. */
export class BatchFailedError extends Error {
  override readonly name = 'BatchFailedError';
  readonly run: string;
  readonly seq: number;
  readonly reason: string;
  constructor(run: string, seq: number, reason: string) {
    super(`run ${run}: batch ${seq} failed: ${reason}`);
    this.run = run;
    this.seq = seq;
    this.reason = reason;
  }
}

/** A batch the driver tried to enqueue was refused before it reached Redis (bad shape, too large...). */
export class EnqueueRefusedError extends Error {
  override readonly name = 'EnqueueRefusedError';
  readonly seq: number;
  readonly reason: string;
  constructor(seq: number, reason: string) {
    super(`batch ${seq} refused at enqueue: ${reason}`);
    this.seq = seq;
    this.reason = reason;
  }
}

/** Redis refused us for good (bad password, no permission, TLS failure): retrying will not help. */
export class RedisConnectionError extends Error {
  override readonly name = 'RedisConnectionError';
}

/** `openRun` without `resume` for a run id that Redis holds already. */
export class RunExistsError extends Error {
  override readonly name = 'RunExistsError';
  readonly run: string;
  constructor(run: string) {
    super(`run ${run} exists already; pass resume (--resume) to continue it, or choose another run id`);
    this.run = run;
  }
}
