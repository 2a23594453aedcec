import type { FinishedRun } from './run-state.js';

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

/**
 * `openRun` for a run id that finished (its record is kept FINISHED_RETENTION_S). With `resume` there
 * is nothing left to do: `finished` says what it delivered. Without it the id is refused, since its
 * outputs exist already and a second run under the name would make them ambiguous.
 */
export class RunFinishedError extends Error {
  override readonly name = 'RunFinishedError';
  readonly run: string;
  constructor(
    readonly finished: FinishedRun,
    readonly resume: boolean,
  ) {
    const at = new Date(finished.finishedAt).toISOString();
    const what = `${finished.total} batches delivered in order, ${finished.failed} failed${finished.digest ? `, digest ${finished.digest}` : ''}`;
    super(
      resume
        ? `run ${finished.run} is complete (finished ${at}: ${what}); nothing to resume`
        : `run ${finished.run} finished ${at} (${what}); choose another run id, or pass resume (--resume) to get its summary`,
    );
    this.run = finished.run;
  }
}
