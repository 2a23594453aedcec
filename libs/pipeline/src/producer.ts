import { type BatchJobData, encodeTensorBlobParts, jobId, type Keyspace, type RunSpec } from '@cnsn/protocol';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { withBackoff } from './backoff.js';
import type { BlobConnection } from './blob-connection.js';
import { EnqueueRefusedError } from './errors.js';
import type { Logger } from './logger.js';

/** BullMQ options of every batch job: retries for transient faults, bounded retention. */
export const BATCH_JOB_OPTIONS = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
} as const;

export interface ProducerOptions {
  maxBatchBytes: number;
  /** How long an enqueue waits for Redis memory (maxmemory reached) before failing. */
  oomWaitMs: number;
}

/**
 * Puts batches into Redis: the tensor blob under its own key, then a BullMQ job that references it.
 * Both steps are idempotent (deterministic job id), so a batch can be enqueued again after any
 * fault; it keeps the batches in flight so that it can (`reassert`) after Redis lost writes.
 */
export class Producer {
  private readonly held = new Map<number, { data: Float32Array; shape: number[] }>();

  constructor(
    private readonly redis: Redis,
    private readonly blobs: BlobConnection,
    private readonly queue: Queue,
    private readonly keys: Keyspace,
    private readonly spec: RunSpec,
    private readonly options: ProducerOptions,
    private readonly logger: Logger,
  ) {}

  /** Checks a batch before anything reaches Redis; the error names the batch and the problem. */
  check(seq: number, data: Float32Array, shape: number[]): void {
    if (!(data instanceof Float32Array))
      throw new EnqueueRefusedError(
        seq,
        `data must be a Float32Array, got ${(data as object)?.constructor?.name ?? typeof data}`,
      );
    if (shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new EnqueueRefusedError(
        seq,
        `shape must be 4-D NCHW positive integers, got [${shape.join(', ')}]`,
      );
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== data.length)
      throw new EnqueueRefusedError(
        seq,
        `shape [${shape.join(', ')}] needs ${count} values, the data holds ${data.length}`,
      );
    if ((shape[2] as number) * (shape[3] as number) < 2)
      throw new EnqueueRefusedError(seq, `H*W must be at least 2, got [${shape.join(', ')}]`);
    if (data.byteLength > this.options.maxBatchBytes) {
      throw new EnqueueRefusedError(
        seq,
        `${data.byteLength} bytes exceeds the maximum batch size of ${this.options.maxBatchBytes} bytes (maxBatchBytes)`,
      );
    }
    const channels = this.spec.selfnorm?.channels;
    if (channels !== undefined && shape[1] !== channels) {
      throw new EnqueueRefusedError(
        seq,
        `has ${shape[1]} channels but the run's SelfNorm parameters are for ${channels}`,
      );
    }
  }

  /** Stores batch `seq` and queues its job. Waits while Redis is out of memory. */
  async enqueue(seq: number, data: Float32Array, shape: number[]): Promise<void> {
    this.check(seq, data, shape);
    this.held.set(seq, { data, shape });
    await this.put(seq, data, shape);
    await this.redis
      .multi()
      .hset(this.keys.run(this.spec.run), 'enqueued', seq + 1)
      .hincrby(this.keys.run(this.spec.run), 'bytesIn', data.byteLength)
      .exec();
  }

  /** Holds a batch whose result already waits in Redis (a resumed run), without enqueueing it again. */
  hold(seq: number, data: Float32Array, shape: number[]): void {
    this.held.set(seq, { data, shape });
  }

  /** The batch was delivered: the producer no longer needs to hold it. */
  release(seq: number): void {
    this.held.delete(seq);
  }

  /**
   * Enqueues again every held batch that has neither a result nor a failure record: after a Redis
   * restart, writes of the last second may be gone (appendfsync everysec).
   */
  async reassert(): Promise<number> {
    let again = 0;
    for (const [seq, { data, shape }] of [...this.held].sort((a, b) => a[0] - b[0])) {
      const [out, err, input] = await Promise.all([
        this.redis.exists(this.keys.output(this.spec.run, seq)),
        this.redis.exists(this.keys.failure(this.spec.run, seq)),
        this.redis.exists(this.keys.input(this.spec.run, seq)),
      ]);
      if (out || err) continue;
      const job = await this.queue.getJob(jobId(this.spec.run, seq));
      const state = job ? await job.getState() : 'missing';
      if (
        input &&
        (state === 'waiting' ||
          state === 'active' ||
          state === 'delayed' ||
          state === 'prioritized' ||
          state === 'waiting-children')
      )
        continue;
      if (job && (state === 'completed' || state === 'failed')) await job.remove().catch(() => undefined);
      await this.put(seq, data, shape);
      again++;
    }
    if (again)
      this.logger.warn({ run: this.spec.run, batches: again }, 're-enqueued batches that Redis lost');
    return again;
  }

  private async put(seq: number, data: Float32Array, shape: number[]): Promise<void> {
    const parts = encodeTensorBlobParts({ shape, data });
    const key = this.keys.input(this.spec.run, seq);
    await this.withMemory(seq, () => this.blobs.command(['SET', key, parts]));
    const job: BatchJobData = {
      run: this.spec.run,
      seq,
      shape,
      bytes: parts.reduce((n, p) => n + p.byteLength, 0),
    };
    await this.withMemory(seq, () =>
      this.queue.add('batch', job, { jobId: jobId(this.spec.run, seq), ...BATCH_JOB_OPTIONS }),
    );
  }

  /** Runs a write, waiting with backoff while Redis answers OOM (maxmemory with noeviction). */
  private async withMemory<T>(seq: number, write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.options.oomWaitMs;
    const isOom = (err: unknown): boolean => /OOM/.test((err as Error).message);
    try {
      return await withBackoff(write, {
        retryable: isOom,
        deadline,
        onRetry: (_err, attempt) => {
          if (attempt === 1)
            this.logger.warn(
              { run: this.spec.run, seq },
              'Redis is out of memory (maxmemory); enqueue waits for memory to free',
            );
        },
      });
    } catch (err) {
      if (!isOom(err)) throw err;
      throw new EnqueueRefusedError(
        seq,
        `Redis is out of memory (maxmemory reached) and did not free any within ${this.options.oomWaitMs} ms; raise maxmemory or lower maxInFlight`,
      );
    }
  }
}
