import {
  decodeTensorBlob,
  type FailureRecord,
  type Keyspace,
  type ResultMeta,
  type RunSpec,
} from '@cnsn/protocol';
import type { Redis } from 'ioredis';
import type { BlobConnection } from './blob-connection.js';
import { BatchFailedError } from './errors.js';
import type { Logger } from './logger.js';

/** One batch handed to the driver, in order. */
export interface DeliveredBatch {
  seq: number;
  shape: number[];
  data: Float32Array;
  /** `ok`: augmented; `passthrough`: it failed and the run's policy delivers it unaugmented. */
  status: 'ok' | 'passthrough';
  /** The CrossNorm plan that was applied (null for passthrough). */
  plan: unknown;
  /** SelfNorm train mode: the BatchNorm batch statistics per gate. */
  selfnormStats: unknown;
  /** Why a passthrough batch failed. */
  reason?: string;
  /** Worker and backend that produced it. */
  worker?: string;
  backend?: string;
}

type Taken =
  | { kind: 'result'; batch: DeliveredBatch }
  | { kind: 'skipped'; seq: number; reason: string }
  | { kind: 'pending' };

/**
 * Takes results back strictly in batch order. The results wait in Redis (the reorder buffer lives
 * there, bounded by the producer's window); the collector holds the batch it is handing over and
 * fetches the next one meanwhile (two buffers, alternating by batch number).
 * It blocks on a wake-up list the workers push to, and always re-checks the keys themselves, so a
 * lost wake-up (or a Redis restart) costs a timeout, never a batch.
 */
export class Collector {
  constructor(
    private readonly redis: Redis,
    private readonly blobs: BlobConnection,
    private readonly blocking: Redis,
    private readonly keys: Keyspace,
    private readonly spec: RunSpec,
    private readonly maxBlobBytes: number,
    private readonly logger: Logger,
    /** Reuse one buffer for every result (the driver copies what it keeps). */
    private readonly reuseBuffers: boolean,
    private readonly wakeTimeoutSec = 5,
  ) {}

  private readonly buffers: Uint8Array[] = [new Uint8Array(0), new Uint8Array(0)];
  private prefetched: { seq: number; taken: Promise<Taken> } | null = null;

  /** Where batch `seq`'s blob lands: one of two reused buffers, or a new one per batch. */
  private sinkFor(seq: number): (length: number) => Uint8Array {
    return (length) => {
      if (!this.reuseBuffers) return new Uint8Array(length);
      const i = seq % 2;
      if ((this.buffers[i] as Uint8Array).length < length) this.buffers[i] = new Uint8Array(length);
      return (this.buffers[i] as Uint8Array).subarray(0, length);
    };
  }

  private async getBlob(key: string, seq: number): Promise<Uint8Array | null> {
    const reply = await this.blobs.command(['GET', key], this.sinkFor(seq));
    return reply instanceof Uint8Array ? reply : null;
  }

  /**
   * Starts fetching batch `seq` while the driver works on the one before (whose buffer it leaves
   * alone). Call only after batch seq - 1 was taken.
   */
  prefetch(seq: number): void {
    const taken = this.tryTake(seq);
    taken.catch(() => undefined); // awaited (and rethrown) by take()
    this.prefetched = { seq, taken };
  }

  /**
   * Batch `seq` once it is there: the result, or a failure handled by the run's policy (skip:
   * reported as such; passthrough: the input, unaugmented; fail: throws {@link BatchFailedError}).
   */
  async take(seq: number, stop: () => boolean): Promise<Taken> {
    const ahead = this.prefetched?.seq === seq ? this.prefetched.taken : null;
    this.prefetched = null;
    for (let first = true; ; first = false) {
      const taken = first && ahead ? await ahead : await this.tryTake(seq);
      if (taken.kind !== 'pending' || stop()) return taken;
      const woke = await this.blocking.blpop(this.keys.ready(this.spec.run), this.wakeTimeoutSec);
      if (woke) await this.redis.del(this.keys.ready(this.spec.run));
    }
  }

  /** Delivered (or skipped): advance the cursor and delete the batch's keys, in one transaction. */
  async advance(seq: number, skipped: boolean): Promise<void> {
    const run = this.spec.run;
    const tx = this.redis
      .multi()
      .hset(this.keys.run(run), 'delivered', seq + 1)
      .unlink(this.keys.output(run, seq), this.keys.failure(run, seq), this.keys.input(run, seq));
    if (skipped) tx.hincrby(this.keys.run(run), 'skipped', 1);
    await tx.exec();
  }

  private async tryTake(seq: number): Promise<Taken> {
    const run = this.spec.run;
    const outKey = this.keys.output(run, seq);
    const out = await this.getBlob(outKey, seq);
    if (out) {
      const blob = decodeTensorBlob<ResultMeta>(out, `blob ${outKey}`, this.maxBlobBytes);
      const meta = blob.meta;
      return {
        kind: 'result',
        batch: {
          seq,
          shape: blob.shape,
          data: blob.data,
          status: 'ok',
          plan: meta?.plan ?? null,
          selfnormStats: meta?.selfnormStats ?? null,
          ...(meta?.worker ? { worker: meta.worker } : {}),
          ...(meta?.backend ? { backend: meta.backend } : {}),
        },
      };
    }
    const errText = await this.redis.get(this.keys.failure(run, seq));
    if (errText === null) return { kind: 'pending' };
    const failure = parseFailure(errText, seq);
    if (this.spec.onError === 'skip') {
      this.logger.warn({ run, seq, reason: failure.reason }, 'batch skipped');
      return { kind: 'skipped', seq, reason: failure.reason };
    }
    if (this.spec.onError === 'passthrough') {
      if (failure.worker === 'driver') {
        this.logger.warn(
          { run, seq, reason: failure.reason },
          'batch skipped: it was never enqueued, so it cannot pass through',
        );
        return {
          kind: 'skipped',
          seq,
          reason: `${failure.reason} (never enqueued: nothing to pass through)`,
        };
      }
      const inKey = this.keys.input(run, seq);
      const input = await this.getBlob(inKey, seq);
      let blob;
      try {
        if (!input) throw new Error('the input blob is gone');
        blob = decodeTensorBlob(input, `blob ${inKey}`, this.maxBlobBytes);
      } catch (err) {
        throw new BatchFailedError(
          run,
          seq,
          `${failure.reason}; and it cannot pass through unaugmented: ${(err as Error).message}`,
        );
      }
      this.logger.warn({ run, seq, reason: failure.reason }, 'batch passed through unaugmented');
      return {
        kind: 'result',
        batch: {
          seq,
          shape: blob.shape,
          data: blob.data,
          status: 'passthrough',
          plan: null,
          selfnormStats: null,
          reason: failure.reason,
        },
      };
    }
    throw new BatchFailedError(run, seq, failure.reason);
  }
}

function parseFailure(text: string, seq: number): FailureRecord {
  try {
    const f = JSON.parse(text) as FailureRecord;
    if (typeof f.reason === 'string') return f;
  } catch {
    // fall through
  }
  return { seq, reason: `unreadable failure record: ${text.slice(0, 200)}`, worker: 'unknown', at: 0 };
}
