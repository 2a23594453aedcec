import {
  type BatchJobData,
  bytesPerValue,
  encodeTensorBlobParts,
  type FailureRecord,
  type RunSpec,
  tensorBlobPrefix,
} from '@cnsn/protocol';
import { withBackoff } from '../backoff.js';
import type { RunControl } from '../control/run-control.js';
import { BufferPool } from '../data-plane/buffer-pool.js';
import type { DriverDataPlane } from '../data-plane/data-plane.js';
import { EnqueueRefusedError } from '../errors.js';
import { isOutOfMemory } from '../redis/redis-errors.js';
import type { Logger } from '../logger.js';

const size = (parts: readonly Uint8Array[]): number => parts.reduce((n, p) => n + p.byteLength, 0);

export interface ProducerOptions {
  spec: RunSpec;
  plane: DriverDataPlane;
  control: RunControl;
  /** Larger batches are refused at enqueue. */
  maxBatchBytes: number;
  /** How long an enqueue waits for Redis memory (maxmemory reached) before failing. */
  oomWaitMs: number;
  /** How often a lost batch is queued again before it fails for good. @defaultValue 5 */
  maxRounds?: number;
  logger: Logger;
}

/** The SelfNorm parameter set a batch was enqueued with (absent: the run's own, version 0). */
export interface ParamsRef {
  hash: string;
  version: number;
}

interface Held {
  /** Null for a placed batch: its values lie on the plane only (see `enqueuePlaced`). */
  data: Float32Array | null;
  shape: number[];
  /** The blob's size on the plane. */
  bytes: number;
  /** Where a 16-bit wire's values were narrowed to (the plane may serve them until delivery). */
  narrowed?: Uint8Array;
  /** Its job names this set whenever it is queued (again): a redone batch is replayed exactly. */
  params: ParamsRef | null;
  /** Times this batch was found lost and queued again. */
  rounds: number;
}

/**
 * Puts batches on their way: the input on the data plane, then a job that references it. Both
 * steps are idempotent (deterministic job id), so a batch can be put again after any fault. It
 * holds every batch until it is delivered (at most the window), so that a lost one can be queued
 * again (`repair`): after a Redis restart, a driver restart, or a job that gave up.
 */
export class Producer {
  private readonly held = new Map<number, Held>();
  /** Buffers for 16-bit inputs, reused batch after batch (a 64x512x7x7 batch is 3.2 MB of them). */
  private readonly narrowed = new BufferPool(true);

  constructor(private readonly o: ProducerOptions) {}

  /** Checks a batch before anything is stored; the error names the batch and the problem. */
  check(seq: number, data: Float32Array, shape: number[]): void {
    if (!(data instanceof Float32Array))
      throw new EnqueueRefusedError(
        seq,
        `data must be a Float32Array, got ${(data as object)?.constructor?.name ?? typeof data}`,
      );
    this.checkShape(seq, shape, data.length);
  }

  /** Checks a batch's shape against its value count (a placed batch: the shape's own). */
  checkShape(seq: number, shape: number[], values?: number): void {
    if (shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw new EnqueueRefusedError(
        seq,
        `shape must be 4-D NCHW positive integers, got [${shape.join(', ')}]`,
      );
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (values !== undefined && count !== values)
      throw new EnqueueRefusedError(
        seq,
        `shape [${shape.join(', ')}] needs ${count} values, the data holds ${values}`,
      );
    if ((shape[2] as number) * (shape[3] as number) < 2)
      throw new EnqueueRefusedError(seq, `H*W must be at least 2, got [${shape.join(', ')}]`);
    if (count * 4 > this.o.maxBatchBytes) {
      throw new EnqueueRefusedError(
        seq,
        `${count * 4} bytes exceeds the maximum batch size of ${this.o.maxBatchBytes} bytes (maxBatchBytes)`,
      );
    }
    const channels = this.o.spec.selfnorm?.channels;
    if (channels !== undefined && shape[1] !== channels) {
      throw new EnqueueRefusedError(
        seq,
        `has ${shape[1]} channels but the run's SelfNorm parameters are for ${channels}`,
      );
    }
  }

  /**
   * Puts batch `seq` on the data plane and queues its job. Waits while Redis is out of memory. The
   * caller has passed the batch through `check`.
   */
  async enqueue(
    seq: number,
    data: Float32Array,
    shape: number[],
    params: ParamsRef | null = null,
  ): Promise<void> {
    const narrowed = this.o.spec.wire === 'float32' ? undefined : this.narrowed.take(data.length * 2);
    let blob: Uint8Array[];
    try {
      blob = this.encode(seq, data, shape, narrowed);
    } catch (err) {
      this.narrowed.give(narrowed);
      throw err;
    }
    const bytes = size(blob);
    this.held.set(seq, { data, shape, bytes, params, rounds: 0, ...(narrowed ? { narrowed } : {}) });
    await this.withMemory(seq, () => this.o.plane.putInput(seq, blob, shape));
    await this.withMemory(seq, () => this.o.control.submit(this.job(seq, shape, bytes, params)));
    await this.o.control.recordEnqueued(seq, data.byteLength);
  }

  /**
   * Batch `seq`'s float32 values are in place on the plane already (a client on this host wrote
   * them where `plane.places.inputPlace(seq)` says): writes its header and queues its job. With
   * `adopt`, a batch an earlier driver of the run enqueued: made sure it is on its way instead.
   * The caller checked the shape.
   */
  async enqueuePlaced(seq: number, shape: number[], params: ParamsRef | null, adopt: boolean): Promise<void> {
    const places = this.o.plane.places;
    if (!places) throw new EnqueueRefusedError(seq, `the ${this.o.plane.kind} plane takes no placed batches`);
    if (this.o.spec.wire !== 'float32')
      throw new EnqueueRefusedError(seq, `a placed batch is float32, the run's wire is ${this.o.spec.wire}`);
    const dataBytes = shape.reduce((a, b) => a * b, 1) * 4;
    const prefix = tensorBlobPrefix(shape, dataBytes);
    const bytes = prefix.byteLength + dataBytes;
    this.held.set(seq, { data: null, shape, bytes, params, rounds: 0 });
    await places.placeInput(seq, prefix);
    if (adopt) {
      await this.repair(seq);
      return;
    }
    await this.withMemory(seq, () => this.o.control.submit(this.job(seq, shape, bytes, params)));
    await this.o.control.recordEnqueued(seq, dataBytes);
  }

  /**
   * Holds a batch enqueued by an earlier driver of this run (a resume) and makes sure it is on its
   * way: its result may wait already, or it is queued again. The caller has checked the batch.
   */
  async adopt(
    seq: number,
    data: Float32Array,
    shape: number[],
    params: ParamsRef | null = null,
  ): Promise<void> {
    const width = bytesPerValue(this.o.spec.wire);
    const dataBytes = data.length * width;
    const bytes = tensorBlobPrefix(shape, dataBytes, undefined, this.o.spec.wire).byteLength + dataBytes;
    this.held.set(seq, { data, shape, bytes, params, rounds: 0 });
    await this.repair(seq);
  }

  /** The batch as the driver gave it (held until delivered), or null (a placed batch: on the plane). */
  input(seq: number): { data: Float32Array; shape: number[] } | null {
    const held = this.held.get(seq);
    return held?.data ? { data: held.data, shape: held.shape } : null;
  }

  /** The shape of a held batch. */
  shapeOf(seq: number): number[] | null {
    return this.held.get(seq)?.shape ?? null;
  }

  /** The batch was delivered: the producer no longer needs it. */
  release(seq: number): void {
    this.narrowed.give(this.held.get(seq)?.narrowed);
    this.held.delete(seq);
  }

  /** Batches held (enqueued and not yet delivered). */
  get holding(): number {
    return this.held.size;
  }

  /**
   * Makes sure batch `seq` is done or on its way; queues it again when it was lost (its input gone
   * from the plane, or its job finished or gone without an outcome). True when it was queued again.
   * A batch lost `maxRounds` times fails for good.
   */
  async repair(seq: number): Promise<boolean> {
    const held = this.held.get(seq);
    if (!held) return false;
    const { plane, control } = this.o;
    if ((await plane.hasResult(seq)) || (await control.failure(seq))) return false;
    const [state, hasInput] = await Promise.all([control.jobState(seq), plane.hasInput(seq)]);
    if (state === 'alive' && hasInput) return false;
    held.rounds++;
    const maxRounds = this.o.maxRounds ?? 5;
    if (held.rounds > maxRounds) {
      const record: FailureRecord = {
        seq,
        reason: `batch ${seq} was lost ${maxRounds} times (job ${state}, input ${hasInput ? 'present' : 'missing'}); giving up on it`,
        worker: 'driver',
        at: Date.now(),
      };
      await control.giveUp(record);
      return false;
    }
    if (!hasInput) {
      const data = held.data;
      if (!data) {
        // A placed batch's values were only ever on the plane.
        await control.giveUp({
          seq,
          reason: `batch ${seq}'s input is gone from the ${plane.kind} plane (job ${state}); it cannot be queued again`,
          worker: 'driver',
          at: Date.now(),
        });
        return false;
      }
      const blob = this.encode(seq, data, held.shape, held.narrowed);
      await this.withMemory(seq, () => plane.putInput(seq, blob, held.shape));
    }
    if (state !== 'alive')
      await this.withMemory(seq, () =>
        control.submit(this.job(seq, held.shape, held.bytes, held.params), true),
      );
    this.o.logger.warn(
      { run: this.o.spec.run, seq, job: state, input: hasInput ? 'present' : 'missing' },
      'batch was lost; queued it again',
    );
    return true;
  }

  /** Repairs every held batch, in order (after a Redis restart). Returns how many were queued again. */
  async reassert(): Promise<number> {
    let again = 0;
    for (const seq of [...this.held.keys()].sort((a, b) => a - b)) if (await this.repair(seq)) again++;
    if (again)
      this.o.logger.warn({ run: this.o.spec.run, batches: again }, 're-enqueued batches that were lost');
    return again;
  }

  private encode(seq: number, data: Float32Array, shape: number[], narrowed?: Uint8Array): Uint8Array[] {
    try {
      return encodeTensorBlobParts({ shape, data, dtype: this.o.spec.wire }, narrowed);
    } catch (err) {
      throw new EnqueueRefusedError(seq, (err as Error).message);
    }
  }

  private job(seq: number, shape: number[], bytes: number, params: ParamsRef | null): BatchJobData {
    return {
      ...(params ? { paramsHash: params.hash, paramsVersion: params.version } : {}),
      run: this.o.spec.run,
      ...(this.o.spec.incarnation ? { inc: this.o.spec.incarnation } : {}),
      seq,
      shape,
      bytes,
      ...this.o.plane.jobFields,
    };
  }

  /** Runs a write, waiting with backoff while Redis answers OOM (maxmemory with noeviction). */
  private async withMemory<T>(seq: number, write: () => Promise<T>): Promise<T> {
    const isOom = isOutOfMemory;
    try {
      return await withBackoff(write, {
        retryable: isOom,
        deadline: Date.now() + this.o.oomWaitMs,
        onRetry: (_err, attempt) => {
          if (attempt === 1)
            this.o.logger.warn(
              { run: this.o.spec.run, seq },
              'Redis is out of memory (maxmemory); enqueue waits for memory to free',
            );
        },
      });
    } catch (err) {
      if (!isOom(err)) throw err;
      throw new EnqueueRefusedError(
        seq,
        `Redis is out of memory (maxmemory reached) and did not free any within ${this.o.oomWaitMs} ms; raise maxmemory or lower maxInFlight`,
      );
    }
  }
}
