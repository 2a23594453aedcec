/**
 * Every Redis key of the pipeline. Control keys (runs, jobs, heartbeats) share one prefix with a
 * hash tag (`{cnsn}` by default): one Redis Cluster slot, so multi-key commands and scripts stay
 * legal (BullMQ's rule too). Tensor blobs (redis plane) carry a hash tag of their own batch
 * instead, so on a cluster they spread over every primary; no script touches them.
 */
export class Keyspace {
  /** The prefix as given, e.g. `{cnsn}`; BullMQ's queue keys use it too. */
  readonly prefix: string;

  constructor(prefix = DEFAULT_PREFIX) {
    if (
      !/^\{[A-Za-z0-9_.-]+\}$/.test(prefix) &&
      !/^[A-Za-z0-9_.-]*\{[A-Za-z0-9_.-]+\}[A-Za-z0-9_.:-]*$/.test(prefix)
    ) {
      throw new Error(
        `prefix must contain a hash tag such as {cnsn} (letters, digits, _ . -), got "${prefix}"`,
      );
    }
    this.prefix = prefix;
    this.blobPrefix = `${prefix.replace(/[{}]/g, '')}:blob`;
  }

  /** The prefix of blob keys: the control prefix without its braces (no shared hash tag). */
  readonly blobPrefix: string;

  /** Set of the runs that are open. */
  runs(): string {
    return `${this.prefix}:runs`;
  }
  /** Hash: a run's spec and counters. */
  run(run: string): string {
    return `${this.prefix}:run:${run}`;
  }
  /** A batch's input blob (redis plane), tagged by batch: `cnsn:blob:{RUN.SEQ}:in`. */
  input(run: string, seq: number): string {
    return `${this.blobPrefix}:{${run}.${seq}}:in`;
  }
  /** A batch's result blob (redis plane), in the same slot as its input. */
  output(run: string, seq: number): string {
    return `${this.blobPrefix}:{${run}.${seq}}:out`;
  }
  /** SCAN pattern of every blob key of a run (cleanup of a removed run; on a cluster, per primary). */
  blobPattern(run: string): string {
    return `${this.blobPrefix}:{${run}.*`;
  }
  /** Bitmap of the batches the workers finished (a set bit per batch: counting is idempotent). */
  done(run: string): string {
    return `${this.prefix}:run:${run}:done`;
  }
  /** A failed batch's reason (JSON). */
  failure(run: string, seq: number): string {
    return `${this.prefix}:run:${run}:err:${seq}`;
  }
  /** List of wake-ups for the run's collector (the truth is in the output keys). */
  ready(run: string): string {
    return `${this.prefix}:run:${run}:ready`;
  }
  /** Sorted set of batch completion times (score ms) for throughput figures; trimmed as it goes. */
  timeline(run: string): string {
    return `${this.prefix}:run:${run}:timeline`;
  }
  /** PNG the driver published of a recent batch (input beside output), for the dashboard. */
  preview(run: string): string {
    return `${this.prefix}:run:${run}:preview`;
  }
  /** Set of the SelfNorm parameter sets (content hashes) a run used: released with the run. */
  runParams(run: string): string {
    return `${this.prefix}:run:${run}:params`;
  }
  /** SelfNorm parameters, content-addressed. */
  params(hash: string): string {
    return `${this.prefix}:params:${hash}`;
  }
  /** Set of the runs that use a parameter object (deleted with the last one). */
  paramsUsers(hash: string): string {
    return `${this.prefix}:params:${hash}:runs`;
  }
  /** Sorted set of workers by last heartbeat (score ms). */
  workers(): string {
    return `${this.prefix}:workers`;
  }
  /** Hash: one worker's host, pid, backend and counters; expires without heartbeats. */
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }
  /** Set of open reachability probes (a driver choosing its data plane asks the workers). */
  probes(): string {
    return `${this.prefix}:probes`;
  }
  /** Hash: the endpoint a probe asks the workers to reach. */
  probe(id: string): string {
    return `${this.prefix}:probe:${id}`;
  }
  /** Hash: each worker's answer to a probe (`ok`, or why it could not reach the endpoint). */
  probeAnswers(id: string): string {
    return `${this.prefix}:probe:${id}:answers`;
  }
  /**
   * Hash: what a finished run delivered (totals, digest when its driver gave one), kept for
   * FINISHED_RETENTION_S after its state is removed, so that a resume or a reuse of its id is told.
   */
  finished(run: string): string {
    return `${this.prefix}:finished:${run}`;
  }
  /** Every key of a run's batches and bookkeeping, for SCAN-based cleanup. */
  runPattern(run: string): string {
    return `${this.prefix}:run:${run}*`;
  }
}

export const DEFAULT_PREFIX = '{cnsn}';
export const DEFAULT_QUEUE = 'augment';

/** Run ids are path- and key-safe: letters, digits, `_` and `-`, 1 to 64 characters. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** How long a finished run's record stays (as long as BullMQ keeps a failed job: removeOnFail). */
export const FINISHED_RETENTION_S = 7 * 24 * 3600;

/** A run's incarnation: made when the run is created, kept by every resume. */
export const INCARNATION_PATTERN = /^[0-9a-f]{8,32}$/;

/**
 * BullMQ job id of a batch: deterministic within one incarnation of a run, so enqueueing a batch
 * twice is a no-op, and different for a run created again under the same id, so its jobs never meet
 * the earlier run's (still in BullMQ's retention). Runs stored before incarnations keep `RUN.SEQ`.
 */
export function jobId(run: string, seq: number, incarnation?: string): string {
  return incarnation ? `${run}.${incarnation}.${seq}` : `${run}.${seq}`;
}
