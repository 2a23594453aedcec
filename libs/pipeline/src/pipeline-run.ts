import { EventEmitter } from 'node:events';
import type { FailureRecord, Keyspace, RunSpec } from '@cnsn/protocol';
import type { Redis } from 'ioredis';
import type { BlobConnection } from './blob-connection.js';
import { Collector, type DeliveredBatch } from './collector.js';
import { BatchFailedError } from './errors.js';
import { InFlightWindow } from './in-flight-window.js';
import type { Logger } from './logger.js';
import type { Producer } from './producer.js';
import type { RunStore } from './run-store.js';
import { type TensorLike, toFloat32Batch } from './tensor-input.js';

/** Events of a run, for the driver's own logging or UI. */
export interface PipelineRunEvents {
  skipped: [seq: number, reason: string];
  passthrough: [seq: number, reason: string];
  delivered: [seq: number];
}

export interface PipelineRunParts {
  spec: RunSpec;
  keys: Keyspace;
  redis: Redis;
  blobs: BlobConnection;
  blocking: Redis;
  store: RunStore;
  producer: Producer;
  maxInFlight: number;
  maxBlobBytes: number;
  /** Batch to resume from (the stored cursor); 0 for a new run. */
  cursor: number;
  /** Batches enqueued before a resume (their results may already wait in Redis). */
  previouslyEnqueued: number;
  removeOnClose: boolean;
  reuseResultBuffers: boolean;
  /** Set when the run was opened with `resume`. */
  resumed: ResumeInfo | null;
  logger: Logger;
  /** Told when the run closes (the pipeline stops watching it). */
  onClose?: (run: PipelineRun) => void;
}

/** How a run opened with `resume` started. */
export interface ResumeInfo {
  /** The first batch not yet delivered. */
  from: number;
  /** False when Redis never saw the run (its driver died before registering it): it starts at 0. */
  known: boolean;
}

/**
 * One training driver's stream: `enqueue` batches as they come (it waits when `maxInFlight`
 * are out), iterate `results()` to get them back strictly in order, `end()` when done. Enqueue and
 * iterate concurrently: the window only opens as results are consumed.
 */
export class PipelineRun extends EventEmitter<PipelineRunEvents> {
  readonly id: string;
  readonly spec: RunSpec;
  /** Batches skipped under `onError: 'skip'`, with their reasons. */
  readonly skipped: Array<{ seq: number; reason: string }> = [];
  private readonly parts: PipelineRunParts;
  private readonly collector: Collector;
  private readonly window: InFlightWindow;
  private next: number;
  private cursor: number;
  private total: number | null = null;
  private closed = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private iterating = false;

  constructor(parts: PipelineRunParts) {
    super();
    this.parts = parts;
    this.id = parts.spec.run;
    this.spec = parts.spec;
    this.next = parts.cursor;
    this.cursor = parts.cursor;
    this.window = new InFlightWindow(parts.maxInFlight, parts.cursor);
    this.collector = new Collector(
      parts.redis,
      parts.blobs,
      parts.blocking,
      parts.keys,
      parts.spec,
      parts.maxBlobBytes,
      parts.logger,
      parts.reuseResultBuffers,
    );
  }

  /** The number the next enqueued batch gets (after a resume: the first batch not yet delivered). */
  get nextSeq(): number {
    return this.next;
  }

  /** Batches handed over in order so far (the cursor). */
  get delivered(): number {
    return this.cursor;
  }

  /** How a resumed run started (null when it was not opened with `resume`). */
  get resumed(): ResumeInfo | null {
    return this.parts.resumed;
  }

  get maxInFlight(): number {
    return this.window.limit;
  }

  /**
   * Enqueues the next batch (a Float32Array with its NCHW shape, or a float32 tf.Tensor); resolves
   * with its batch number once it is in Redis. Waits while `maxInFlight` batches are out.
   */
  async enqueue(batch: Float32Array | TensorLike, shape?: readonly number[]): Promise<number> {
    if (this.total !== null) throw new Error(`run ${this.id}: enqueue after end()`);
    if (this.failure) throw this.failure;
    const seq = this.next;
    const { data, shape: dims } = await toFloat32Batch(batch, shape);
    this.parts.producer.check(seq, data, dims);
    await this.window.acquire(seq);
    this.next = seq + 1;
    if (seq < this.parts.previouslyEnqueued && (await this.hasOutcome(seq))) {
      // Resumed run: this batch's result (or failure) is already waiting in Redis.
      this.parts.producer.hold(seq, data, dims);
    } else {
      await this.parts.producer.enqueue(seq, data, dims);
    }
    this.kick();
    return seq;
  }

  /**
   * Records the next batch as failed without enqueueing it (the driver could not read it, or it
   * was refused): it keeps its batch number, so later batches keep theirs, and the run's policy
   * applies to it like to a batch a worker failed (under `passthrough` it is skipped: there is no
   * input to pass through).
   */
  async reject(reason: string): Promise<number> {
    if (this.total !== null) throw new Error(`run ${this.id}: reject after end()`);
    if (this.failure) throw this.failure;
    const seq = this.next;
    await this.window.acquire(seq);
    this.next = seq + 1;
    const { keys, redis } = this.parts;
    const record: FailureRecord = { seq, reason, worker: 'driver', at: Date.now() };
    await redis
      .multi()
      .set(keys.failure(this.id, seq), JSON.stringify(record))
      .hset(keys.run(this.id), 'enqueued', seq + 1)
      .hincrby(keys.run(this.id), 'failed', 1)
      .rpush(keys.ready(this.id), String(seq))
      .exec();
    this.kick();
    return seq;
  }

  /** No more batches: `results()` ends after the last one. */
  async end(): Promise<void> {
    if (this.total !== null) return;
    this.total = this.next;
    await this.parts.store.markEnded(this.id, this.total);
    this.kick();
  }

  /**
   * The results, strictly in enqueue order. Throws {@link BatchFailedError} under `onError: 'fail'`.
   * A batch counts as delivered once the consumer asks for the next one or stops iterating; a
   * driver that dies while holding one gets it again when it resumes (at least once, in order).
   * With `reuseResultBuffers`, a batch's `data` is valid until the next one is asked for.
   */
  async *results(): AsyncGenerator<DeliveredBatch, void, undefined> {
    if (this.iterating) throw new Error(`run ${this.id}: results() is already being iterated`);
    this.iterating = true;
    // A batch handed over when the consumer stops iterating (break) was received: count it delivered.
    let handedOver: number | null = null;
    try {
      for (;;) {
        if (this.closed) return;
        if (this.total !== null && this.cursor >= this.total) return;
        if (this.cursor >= this.next) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        const seq = this.cursor;
        let taken;
        try {
          taken = await this.collector.take(seq, () => this.closed);
        } catch (err) {
          if (err instanceof BatchFailedError) await this.fail(err);
          throw err;
        }
        if (taken.kind === 'pending') return; // closed while waiting
        if (taken.kind === 'skipped') {
          this.skipped.push({ seq, reason: taken.reason });
          this.emit('skipped', seq, taken.reason);
          await this.advance(seq, true);
          continue;
        }
        if (taken.batch.status === 'passthrough') this.emit('passthrough', seq, taken.batch.reason ?? '');
        // Fetch the next batch while the consumer works on this one.
        if (seq + 1 < this.next) this.collector.prefetch(seq + 1);
        handedOver = seq;
        yield taken.batch;
        handedOver = null;
        // The consumer asked for the next batch: it is done with this one.
        await this.advance(seq, false);
        this.emit('delivered', seq);
      }
    } finally {
      this.iterating = false;
      if (handedOver !== null && !this.closed) {
        await this.advance(handedOver, false);
        this.emit('delivered', handedOver);
      }
    }
  }

  /** Publishes a picture of batch `seq` (e.g. its input beside its output) for the dashboard. */
  async publishPreview(seq: number, png: Uint8Array): Promise<void> {
    await this.parts.store.putPreview(this.id, seq, png);
  }

  /** After a Redis restart: enqueue again what Redis may have lost (see README, "Faults"). */
  reassert(): Promise<number> {
    return this.parts.producer.reassert();
  }

  /**
   * Stops the run. A finished run (every batch delivered) is removed from Redis unless
   * `removeOnClose` is false; an unfinished one stays, so it can be resumed with its run id.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.parts.onClose?.(this);
    this.kick();
    this.window.close(new Error(`run ${this.id} is closed`));
    const finished = this.total !== null && this.cursor >= this.total;
    if (finished && this.parts.removeOnClose) await this.parts.store.remove(this.id, this.spec);
    this.parts.blocking.disconnect();
  }

  private async advance(seq: number, skipped: boolean): Promise<void> {
    await this.collector.advance(seq, skipped);
    this.parts.producer.release(seq);
    this.cursor = seq + 1;
    this.window.advance(this.cursor);
  }

  private async fail(err: BatchFailedError): Promise<void> {
    this.failure = err;
    this.window.close(err);
    await this.parts.store.markFailed(this.id).catch(() => undefined);
  }

  private async hasOutcome(seq: number): Promise<boolean> {
    const n = await this.parts.redis.exists(
      this.parts.keys.output(this.id, seq),
      this.parts.keys.failure(this.id, seq),
    );
    return n > 0;
  }

  private kick(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
