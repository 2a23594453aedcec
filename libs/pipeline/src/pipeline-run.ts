import { EventEmitter } from 'node:events';
import {
  checkSelfNormParams,
  type FailureRecord,
  type RunSpec,
  type SelfNormParamsSpec,
} from '@cnsn/protocol';
import type { RunControl } from './control/run-control.js';
import { Collector, type DeliveredBatch, type TakeHooks } from './core/collector.js';
import { ConsumerClock, type ConsumerFigures } from './core/consumer-clock.js';
import { InFlightWindow } from './core/in-flight-window.js';
import { type ParamsRef, Producer } from './core/producer.js';
import type { BufferPool } from './data-plane/buffer-pool.js';
import type { DriverDataPlane } from './data-plane/data-plane.js';
import { BatchFailedError, EnqueueRefusedError } from './errors.js';
import type { Logger } from './logger.js';
import { type TensorLike, toFloat32Batch } from './tensor-input.js';
import { type CleanupStep, runCleanup } from './lifecycle.js';

/** Events of a run, for the driver's own logging or UI. */
export interface PipelineRunEvents {
  skipped: [seq: number, reason: string];
  passthrough: [seq: number, reason: string];
  delivered: [seq: number];
}

/** How a run opened with `resume` started. */
export interface ResumeInfo {
  /** The first batch not yet delivered. */
  from: number;
  /** False when Redis never saw the run (its driver died before registering it): it starts at 0. */
  known: boolean;
}

/** What a run is made of (see Pipeline.openRun); tests assemble it from in-memory parts. */
export interface PipelineRunParts {
  spec: RunSpec;
  plane: DriverDataPlane;
  control: RunControl;
  results: BufferPool;
  maxInFlight: number;
  maxBatchBytes: number;
  maxBlobBytes: number;
  oomWaitMs: number;
  /** Batch to resume from (the stored cursor); 0 for a new run. */
  cursor: number;
  /** Batches enqueued before a resume (their results may already wait). */
  previouslyEnqueued: number;
  resumed: ResumeInfo | null;
  /** Which plane the run takes and why (e.g. `direct: auto: every live worker runs on this host`). */
  planeChoice?: string;
  logger: Logger;
  /** One wait of the collector before it checks the batch for loss. @defaultValue 5000 */
  wakeTimeoutMs?: number;
  /** Results stay where they lie on the plane (`batch.place`). @defaultValue false */
  resultsInPlace?: boolean;
  /** Removes a finished run's state (on close, unless removeOnClose is false). */
  remove?: () => Promise<void>;
  /** Where previews of batches go (the dashboard shows the latest). */
  publishPreview?: (seq: number, png: Uint8Array) => Promise<void>;
  /** Keeps the digest of the run's outputs in its finished record. */
  recordDigest?: (digest: string) => Promise<void>;
  /** Writes how the consumer spends its time (status, dashboard, /metrics). */
  recordConsumer?: (figures: ConsumerFigures) => Promise<void>;
  /** Told when the run closes (the pipeline stops watching it). */
  onClose?: (run: PipelineRun) => void;
}

/**
 * One training driver's stream: `enqueue` batches as they come (it waits when `maxInFlight` are
 * out), iterate `results()` to get them back strictly in order, `end()` when done. Enqueue and
 * iterate concurrently: the window only opens as results are consumed.
 */
export class PipelineRun extends EventEmitter<PipelineRunEvents> {
  readonly id: string;
  readonly spec: RunSpec;
  /** Batches skipped under `onError: 'skip'`, with their reasons. */
  readonly skipped: Array<{ seq: number; reason: string }> = [];
  private readonly parts: PipelineRunParts;
  private readonly producer: Producer;
  private readonly collector: Collector;
  private readonly window: InFlightWindow;
  private next: number;
  private cursor: number;
  private total: number | null = null;
  private closing: Promise<void> | null = null;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private iterating = false;
  /**
   * Enqueue, reject and end run one after another in call order: a batch number is taken only when
   * the previous call is through, so concurrent callers get consecutive numbers with no gap.
   */
  private admission: Promise<unknown> = Promise.resolve();
  /** The SelfNorm set of the next batch; null: the run's own (version 0). */
  private params: ParamsRef | null = null;
  private readonly consumer = new ConsumerClock();

  constructor(parts: PipelineRunParts) {
    super();
    this.parts = parts;
    this.id = parts.spec.run;
    this.spec = parts.spec;
    this.next = parts.cursor;
    this.cursor = parts.cursor;
    this.window = new InFlightWindow(parts.maxInFlight, parts.cursor);
    this.producer = new Producer({
      spec: parts.spec,
      plane: parts.plane,
      control: parts.control,
      maxBatchBytes: parts.maxBatchBytes,
      oomWaitMs: parts.oomWaitMs,
      logger: parts.logger,
    });
    this.collector = new Collector({
      spec: parts.spec,
      plane: parts.plane,
      control: parts.control,
      results: parts.results,
      maxBlobBytes: parts.maxBlobBytes,
      logger: parts.logger,
      ...(parts.wakeTimeoutMs !== undefined ? { wakeTimeoutMs: parts.wakeTimeoutMs } : {}),
      resultsInPlace: parts.resultsInPlace ?? false,
    });
  }

  /** The number the next enqueued batch gets (after a resume: the first batch not yet delivered). */
  get nextSeq(): number {
    return this.next;
  }

  /** Batches handed over in order so far (the cursor). */
  get delivered(): number {
    return this.cursor;
  }

  get maxInFlight(): number {
    return this.window.limit;
  }

  /** The run's data plane (`redis` or `direct`). */
  get dataPlane(): string {
    return this.parts.plane.kind;
  }

  /** Whether results stay where they lie on the plane (`batch.place`; see OpenRunOptions). */
  get resultsInPlace(): boolean {
    return this.parts.resultsInPlace ?? false;
  }

  /** Which plane the run takes and why. */
  get planeChoice(): string {
    return this.parts.planeChoice ?? this.parts.plane.kind;
  }

  /** Tensor bytes this driver moved on the data plane so far. */
  get planeBytes(): { in: number; out: number } {
    return { ...this.parts.plane.bytesMoved };
  }

  /** How a resumed run started (null when it was not opened with `resume`). */
  get resumed(): ResumeInfo | null {
    return this.parts.resumed;
  }

  /** Result buffers out at once, at most (a bounded-memory check). */
  get resultBuffersHighWater(): number {
    return this.parts.results.highWater;
  }

  /**
   * Enqueues the next batch (a Float32Array with its NCHW shape, or a float32 tf.Tensor); resolves
   * with its batch number once it is on its way. Waits while `maxInFlight` batches are out. Calls
   * may overlap: they are numbered in call order, and a refused batch takes no number.
   */
  enqueue(batch: Float32Array | TensorLike, shape?: readonly number[]): Promise<number> {
    return this.admit(async () => {
      this.assertOpen('enqueue');
      const seq = this.next;
      const { data, shape: dims } = await toFloat32Batch(batch, shape);
      this.producer.check(seq, data, dims);
      await this.window.acquire(seq);
      this.next = seq + 1;
      // A resumed run: an earlier driver enqueued this batch; its result may already wait.
      if (seq < this.parts.previouslyEnqueued) await this.producer.adopt(seq, data, dims, this.params);
      else await this.producer.enqueue(seq, data, dims, this.params);
      this.kick();
      return seq;
    });
  }

  /**
   * Enqueues the next batch whose float32 values a client on this host has written in place on the
   * run's plane already (`placeFor(nextSeq)`; the shm plane): no byte of it passes through this
   * process. Otherwise as `enqueue`.
   */
  enqueuePlaced(shape: readonly number[], placedAs?: number): Promise<number> {
    return this.admit(async () => {
      this.assertOpen('enqueue');
      const seq = this.next;
      if (placedAs !== undefined && placedAs !== seq)
        throw new EnqueueRefusedError(
          seq,
          `the values were placed as batch ${placedAs}; the next batch is ${seq}`,
        );
      const dims = [...shape];
      this.producer.checkShape(seq, dims);
      await this.window.acquire(seq);
      this.next = seq + 1;
      await this.producer.enqueuePlaced(seq, dims, this.params, seq < this.parts.previouslyEnqueued);
      this.kick();
      return seq;
    });
  }

  /** Where a client on this host puts batch `seq`'s values for `enqueuePlaced`; null: not on this plane. */
  placeFor(seq: number): { path: string; offset: number; dir: string } | null {
    const places = this.parts.plane.places;
    return places && this.spec.wire === 'float32' ? { ...places.inputPlace(seq), dir: places.dir } : null;
  }

  /** Batch `seq`'s input while the run holds it (read back from the plane when it was placed). */
  async inputOf(seq: number): Promise<{ data: Float32Array; shape: number[] } | null> {
    const held = this.producer.input(seq);
    if (held) return held;
    const shape = this.producer.shapeOf(seq);
    const data = shape && (await this.parts.plane.places?.readInput(seq, shape));
    return shape && data ? { data, shape } : null;
  }

  /**
   * Records the next batch as failed without enqueueing it (the driver could not read it, or it
   * was refused): it keeps its batch number, so later batches keep theirs, and the run's policy
   * applies to it like to a batch a worker failed (under `passthrough` it is skipped: there is no
   * input to pass through).
   */
  reject(reason: string): Promise<number> {
    return this.admit(async () => {
      this.assertOpen('reject');
      const seq = this.next;
      await this.window.acquire(seq);
      this.next = seq + 1;
      const record: FailureRecord = { seq, reason, worker: 'driver', at: Date.now() };
      await this.parts.control.reject(record);
      this.kick();
      return seq;
    });
  }

  /**
   * New SelfNorm parameters (the trainer's current weights): every batch enqueued after this call
   * uses them. Stored once per distinct set; each job names its set, a result says which version it
   * used (`selfnormVersion`: 0 for the parameters given at open, then 1, 2, ...), and a batch redone
   * after a fault uses the set it was enqueued with. Resolves with the new version.
   */
  setSelfNorm(params: SelfNormParamsSpec): Promise<number> {
    return this.admit(async () => {
      this.assertOpen('setSelfNorm');
      const channels = this.spec.selfnorm?.channels;
      if (channels === undefined)
        throw new Error(
          `run ${this.id}: setSelfNorm on a run opened without SelfNorm; open it with selfnorm`,
        );
      const { hash, json } = checkSelfNormParams(params, channels);
      const version = (this.params?.version ?? 0) + 1;
      await this.parts.control.addParams(hash, json);
      this.params = { hash, version };
      return version;
    });
  }

  /** No more batches: `results()` ends after the last one (after every enqueue called before). */
  end(): Promise<void> {
    return this.admit(async () => {
      if (this.total !== null) return;
      this.total = this.next;
      await this.parts.control.markEnded(this.total);
      this.kick();
    });
  }

  /**
   * The results, strictly in enqueue order. Throws {@link BatchFailedError} under `onError: 'fail'`.
   * A batch counts as delivered once the consumer asks for the next one or stops iterating; a
   * driver that dies while holding one gets it again when it resumes (at least once, in order).
   * Without `reuseResultBuffers` each batch's data is the consumer's to keep; with it, a batch's data
   * is valid until the next one is asked for.
   */
  async *results(): AsyncGenerator<DeliveredBatch, void, undefined> {
    if (this.iterating) throw new Error(`run ${this.id}: results() is already being iterated`);
    this.iterating = true;
    // The batch handed over and not yet counted delivered: counted when the consumer asks for the
    // next one, or stops iterating (break, return) having received it.
    let handedOver: { batch: DeliveredBatch; bytes: number } | null = null;
    this.consumer.ask();
    try {
      for (;;) {
        if (this.closing) return;
        if (this.total !== null && this.cursor >= this.total) return;
        if (this.cursor >= this.next) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        const seq = this.cursor;
        let taken;
        try {
          taken = await this.collector.take(seq, this.hooks(seq));
        } catch (err) {
          if (err instanceof BatchFailedError) await this.fail(err);
          throw err;
        }
        if (taken.kind === 'pending') return; // closed while waiting
        if (taken.kind === 'skipped') {
          this.skipped.push({ seq, reason: taken.reason });
          this.emit('skipped', seq, taken.reason);
          await this.advance(seq, true, null, 0);
          continue;
        }
        if (taken.batch.status === 'passthrough') this.emit('passthrough', seq, taken.batch.reason ?? '');
        // Fetch the next batch while the consumer works on this one.
        if (seq + 1 < this.next) this.collector.prefetch(seq + 1, this.hooks(seq + 1));
        handedOver = { batch: taken.batch, bytes: taken.bytes };
        this.consumer.handOver();
        yield taken.batch;
        this.consumer.ask();
        handedOver = null;
        // The consumer asked for the next batch: it is done with this one.
        await this.advance(seq, false, taken.batch, taken.bytes);
        this.emit('delivered', seq);
      }
    } finally {
      this.iterating = false;
      this.consumer.ask(); // a consumer that stops (break) ends its hold of the last batch
      if (handedOver && !this.closing) {
        await this.advance(handedOver.batch.seq, false, handedOver.batch, handedOver.bytes);
        this.emit('delivered', handedOver.batch.seq);
      }
    }
  }

  /**
   * How the consumer spent its time: waiting for batches against holding them (is the trainer
   * input-bound?). Measured around `results()`, or as a client reported it.
   */
  get consumerFigures(): ConsumerFigures {
    return this.consumer.current;
  }

  /**
   * A client that consumes the results elsewhere (the Python client, through its gateway) reports
   * its own totals since the run opened; they replace what `results()` measured. Resolves once
   * written (at most once a second; a run that is gone is not written to).
   */
  reportConsumer(waitMs: number, holdMs: number, batches: number): Promise<void> {
    this.consumer.report({ waitMs, holdMs, batches });
    return this.flushConsumer(false);
  }

  /** Publishes a picture of batch `seq` (e.g. its input beside its output) for the dashboard. */
  async publishPreview(seq: number, png: Uint8Array): Promise<void> {
    if (!this.parts.publishPreview)
      throw new Error(`run ${this.id}: this run has nowhere to publish previews`);
    await this.parts.publishPreview(seq, png);
  }

  /**
   * Records a digest of the run's outputs (e.g. `cnsn run`'s), kept with the run's finished record
   * so that a later `resume` of the finished run can say what it delivered.
   */
  async recordDigest(digest: string): Promise<void> {
    await this.parts.recordDigest?.(digest);
  }

  /** After a Redis restart: put on their way again the batches Redis may have lost. */
  reassert(): Promise<number> {
    return this.producer.reassert();
  }

  /**
   * Stops the run; every caller awaits the same closing. A finished run (every batch delivered) is
   * removed unless `removeOnClose` is false; an unfinished one stays, resumable by its run id.
   * Each step runs whatever the others did; the closing rejects naming each step that failed.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.parts.onClose?.(this);
    this.kick();
    this.window.close(new Error(`run ${this.id} is closed`));
    const finished = this.total !== null && this.cursor >= this.total;
    if (!finished) await this.flushConsumer(true);
    await runCleanup(`run ${this.id}`, [
      ...(finished && this.parts.remove ? [['remove the run', this.parts.remove] as CleanupStep] : []),
      ['close the control plane', () => this.parts.control.close()],
      ['close the data plane', () => this.parts.plane.close()],
    ]);
  }

  /** Runs `step` after every enqueue, reject and end called before it, whatever they did. */
  private admit<T>(step: () => Promise<T>): Promise<T> {
    const result = this.admission.then(step);
    this.admission = result.catch(() => undefined);
    return result;
  }

  private assertOpen(what: string): void {
    if (this.total !== null) throw new Error(`run ${this.id}: ${what} after end()`);
    if (this.failure) throw this.failure;
    if (this.closing) throw new Error(`run ${this.id}: ${what} after close()`);
  }

  /** What the collector may ask of the run while it waits for batch `seq`. */
  private hooks(seq: number): TakeHooks {
    return {
      stopped: () => this.closing !== null,
      stalled: () => this.producer.repair(seq),
      input: () => this.inputOf(seq),
    };
  }

  private async advance(
    seq: number,
    skipped: boolean,
    batch: DeliveredBatch | null,
    bytes: number,
  ): Promise<void> {
    await this.collector.advance(seq, skipped, batch, bytes);
    this.producer.release(seq);
    this.cursor = seq + 1;
    this.window.advance(this.cursor);
    void this.flushConsumer(this.total !== null && this.cursor >= this.total);
  }

  /** Writes the consumer's figures when due; a failed write is only logged (they are figures). */
  private flushConsumer(force: boolean): Promise<void> {
    const figures = this.consumer.due(force);
    if (!figures || !this.parts.recordConsumer) return Promise.resolve();
    return this.parts
      .recordConsumer(figures)
      .catch((err: unknown) =>
        this.parts.logger.warn({ err: (err as Error).message }, 'could not record the consumer figures'),
      );
  }

  private async fail(err: BatchFailedError): Promise<void> {
    this.failure = err;
    this.window.close(err);
    await this.parts.control.markFailed().catch(() => undefined);
  }

  private kick(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
