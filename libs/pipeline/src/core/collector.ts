import {
  decodeTensorBlob,
  ProtocolError,
  readTensorBlobPrefix,
  type ResultMeta,
  type RunSpec,
} from '@cnsn/protocol';
import type { RunControl } from '../control/run-control.js';
import type { BufferPool } from '../data-plane/buffer-pool.js';
import type { DriverDataPlane, PlacedData } from '../data-plane/data-plane.js';
import { BatchFailedError } from '../errors.js';
import type { Logger } from '../logger.js';

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
  /** Which SelfNorm parameter set it used: 0 for the run's own, n after the n-th setSelfNorm. */
  selfnormVersion?: number;
  /**
   * With `returnStats`: per-(instance, channel) mean and std (unbiased, eps 1e-12) of the CrossNorm
   * output, computed in float64; `mean[n * C + c]`.
   */
  stats?: { mean: Float64Array; std: Float64Array };
  /** Why a passthrough batch failed. */
  reason?: string;
  /** Worker and backend that produced it. */
  worker?: string;
  backend?: string;
  /** With `resultsInPlace`: where the float32 values lie (`data` is then empty). */
  place?: PlacedData;
}

export type Taken =
  | { kind: 'result'; batch: DeliveredBatch; bytes: number }
  | { kind: 'skipped'; seq: number; reason: string }
  | { kind: 'pending' };

export interface CollectorOptions {
  spec: RunSpec;
  plane: DriverDataPlane;
  control: RunControl;
  /** Where results land; the collector gives a batch's buffers back when it is delivered. */
  results: BufferPool;
  maxBlobBytes: number;
  logger: Logger;
  /** How long one wait for a batch lasts before the batch is checked for loss. @defaultValue 5000 */
  wakeTimeoutMs?: number;
  /**
   * Leave results where they lie on a plane with `places` (a client on this host reads them): a
   * batch then has `place` and empty `data`. @defaultValue false
   */
  resultsInPlace?: boolean;
}

/** What the collector asks of its run while it waits for a batch. */
export interface TakeHooks {
  /** The run closed: stop waiting. */
  stopped(): boolean;
  /** A wait ended with no sign of progress: make sure the batch is not lost. */
  stalled(): Promise<unknown>;
  /** The driver's own copy of the batch's input (to pass it through unaugmented), or null. */
  input(): Promise<{ data: Float32Array; shape: number[] } | null>;
}

/**
 * Takes results strictly in batch order. The reorder buffer is the data plane (bounded by the
 * producer's window); the collector holds the batch it hands over and fetches the next one
 * meanwhile. It waits on the control plane's wake-ups and always re-checks the plane itself, so a
 * lost wake-up costs a timeout, never a batch; a batch still missing then is checked for loss.
 */
export class Collector {
  private prefetched: { seq: number; taken: Promise<Taken> } | null = null;

  constructor(private readonly o: CollectorOptions) {}

  /** Starts fetching batch `seq` while the driver works on the one before. */
  prefetch(seq: number, hooks: TakeHooks): void {
    const taken = this.tryTake(seq, hooks);
    taken.catch(() => undefined); // awaited (and rethrown) by take()
    this.prefetched = { seq, taken };
  }

  /**
   * Batch `seq` once it is there: the result, or a failure handled by the run's policy (skip:
   * reported as such; passthrough: the input, unaugmented; fail: throws {@link BatchFailedError}).
   */
  async take(seq: number, hooks: TakeHooks): Promise<Taken> {
    const ahead = this.prefetched?.seq === seq ? this.prefetched.taken : null;
    this.prefetched = null;
    const timeout = this.o.wakeTimeoutMs ?? 5000;
    for (let first = true; ; first = false) {
      const taken = first && ahead ? await ahead : await this.tryTake(seq, hooks);
      if (taken.kind !== 'pending' || hooks.stopped()) return taken;
      const woke = await this.o.control.waitForProgress(timeout);
      if (!woke && !hooks.stopped()) await hooks.stalled();
    }
  }

  /** Batch `seq` was delivered or skipped: its bytes go, the cursor moves, its buffers come back. */
  async advance(
    seq: number,
    skipped: boolean,
    delivered: DeliveredBatch | null,
    bytes: number,
  ): Promise<void> {
    await this.o.plane.forget(seq);
    await this.o.control.delivered(seq, skipped, bytes);
    if (delivered) this.o.results.give(delivered.data);
  }

  private async tryTake(seq: number, hooks: TakeHooks): Promise<Taken> {
    const { spec, control } = this.o;
    const run = spec.run;
    const found = this.o.resultsInPlace ? await this.placedResult(seq) : await this.fetchedResult(seq);
    if (found) return found;
    const failure = await control.failure(seq);
    if (failure === null) return { kind: 'pending' };
    if (spec.onError === 'skip') {
      this.o.logger.warn({ run, seq, reason: failure.reason }, 'batch skipped');
      return { kind: 'skipped', seq, reason: failure.reason };
    }
    if (spec.onError === 'passthrough') {
      if (failure.worker === 'driver') {
        this.o.logger.warn(
          { run, seq, reason: failure.reason },
          'batch skipped: the driver never had it on its way, so it cannot pass through',
        );
        return {
          kind: 'skipped',
          seq,
          reason: `${failure.reason} (never enqueued: nothing to pass through)`,
        };
      }
      // The driver still holds every batch it has not had back: pass that copy through.
      const input = await hooks.input();
      if (!input) throw new BatchFailedError(run, seq, `${failure.reason}; and its input is no longer held`);
      this.o.logger.warn({ run, seq, reason: failure.reason }, 'batch passed through unaugmented');
      return {
        kind: 'result',
        bytes: 0,
        batch: {
          seq,
          shape: input.shape,
          data: input.data,
          status: 'passthrough',
          plan: null,
          selfnormStats: null,
          reason: failure.reason,
        },
      };
    }
    throw new BatchFailedError(run, seq, failure.reason);
  }

  /** Batch `seq`'s result fetched from the plane and decoded, or null until it has arrived. */
  private async fetchedResult(seq: number): Promise<Taken | null> {
    const { spec, plane, results } = this.o;
    const blob = await plane.fetchResult(seq);
    if (!blob) return null;
    let decoded;
    try {
      decoded = decodeTensorBlob<ResultMeta>(blob, `result of batch ${seq}`, this.o.maxBlobBytes, (count) => {
        const into = results.take(count * 4);
        return new Float32Array(into.buffer, into.byteOffset, count);
      });
    } finally {
      // A 16-bit result was widened into a buffer of its own: the received one is free again.
      if (spec.wire !== 'float32') results.give(blob);
    }
    return {
      kind: 'result',
      bytes: blob.byteLength,
      batch: delivered(seq, decoded.shape, decoded.data, decoded.meta),
    };
  }

  /** Batch `seq`'s result header, its values left where they lie; null until it has arrived. */
  private async placedResult(seq: number): Promise<Taken | null> {
    const places = this.o.plane.places;
    if (!places) throw new Error(`the ${this.o.plane.kind} plane cannot leave results in place`);
    const found = await places.resultPlace(seq);
    if (!found) return null;
    const source = `result of batch ${seq}`;
    const head = readTensorBlobPrefix<ResultMeta>(found.prefix, source, this.o.maxBlobBytes);
    if (head.dtype !== 'float32' || head.dataBytes !== found.data.bytes)
      throw new ProtocolError(
        source,
        `${found.data.bytes} bytes of ${head.dtype} in place, the header says ${head.dataBytes}`,
      );
    const batch = delivered(seq, head.shape, new Float32Array(0), head.meta);
    return {
      kind: 'result',
      bytes: found.prefix.byteLength + found.data.bytes,
      batch: { ...batch, place: found.data },
    };
  }
}

/** A result as the consumer gets it, from its values and its meta. */
function delivered(
  seq: number,
  shape: number[],
  data: Float32Array,
  meta: ResultMeta | undefined,
): DeliveredBatch {
  return {
    seq,
    shape,
    data,
    status: 'ok',
    plan: meta?.plan ?? null,
    selfnormStats: meta?.selfnormStats ?? null,
    ...(meta?.selfnormVersion !== undefined ? { selfnormVersion: meta.selfnormVersion } : {}),
    ...(meta?.stats
      ? { stats: { mean: Float64Array.from(meta.stats.mean), std: Float64Array.from(meta.stats.std) } }
      : {}),
    ...(meta?.worker ? { worker: meta.worker } : {}),
    ...(meta?.backend ? { backend: meta.backend } : {}),
  };
}
