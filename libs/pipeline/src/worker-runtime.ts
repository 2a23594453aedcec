import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import {
  type BatchJobData,
  type DataPlaneKind,
  decodeTensorBlob,
  readTensorBlobHeader,
  DEFAULT_MAX_BLOB_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  type FailureRecord,
  Keyspace,
  bytesPerValue,
  narrowFloat32,
  parseBatchJobData,
  ProtocolError,
  type ResultMeta,
  type RunSpec,
  tensorBlobPrefix,
} from '@cnsn/protocol';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { RedisClient } from './redis/redis-connection.js';
import type { BatchProcessor, ProcessorInput } from './batch-processor.js';
import { isLastAttempt } from './control/batch-job-options.js';
import { InputMissingError, type WorkerDataPlane } from './data-plane/data-plane.js';
import { shmIdentity } from './data-plane/shm/shm-files.js';
import type { WorkerTransport } from './data-plane/direct/worker-transport.js';
import { answerProbes } from './data-plane/direct/reach-probe.js';
import { registeredPlanes } from './data-plane/plane-registry.js';
import { Lifecycle, type LifecycleState } from './lifecycle.js';
import { within } from './within.js';
import { RunCache } from './worker/run-cache.js';
import { childLogger, type Logger, silentLogger } from './logger.js';
import type { BlobStore } from './redis/blob-connection.js';
import { openBlobStore } from './redis/blob-store.js';
import { checkRedisConfig } from './redis/redis-connection.js';
import { RedisScripts } from './redis/scripts.js';
import { RunState } from './run-state.js';
import { removeHeartbeat, type WorkerInfo, writeHeartbeat } from './worker-registry.js';

/**
 * BullMQ's lock and stall settings, all from the lock's duration so none can be set against it: the
 * lock is renewed at half its life (BullMQ renews a lock once it is older than half lockRenewTime;
 * its own default is lockDuration / 2 too), so a batch held longer than the lock keeps it; a renewal
 * later than the lock lets a second worker take the batch while the first still computes it.
 */
export function workerLock(lockDuration: number) {
  const half = Math.floor(lockDuration / 2);
  return { lockDuration, lockRenewTime: half, stalledInterval: half, maxStalledCount: 3 } as const;
}

/** The workers' locks: a dead worker's batch is taken over within about lockDuration + stalledInterval. */
export const WORKER_LOCK = workerLock(8000);

export interface WorkerRuntimeOptions {
  /** A connected client (see connectRedis); BullMQ makes its own blocking connection from it. */
  redis: RedisClient;
  processor: BatchProcessor;
  /** @defaultValue '{cnsn}' */
  prefix?: string;
  /** @defaultValue 'augment' */
  queue?: string;
  /** Batches processed at once. @defaultValue 1 */
  concurrency?: number;
  /** Largest input blob accepted. @defaultValue 256 MiB */
  maxBlobBytes?: number;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** @defaultValue `${hostname}-${pid}` */
  id?: string;
  /** Heartbeat period. @defaultValue 2000 */
  heartbeatMs?: number;
  /**
   * A run with no batch for this long is forgotten (spec, parameters, its driver's connections);
   * a run that ends is forgotten at the next heartbeat. @defaultValue 60000
   */
  forgetIdleMs?: number;
  /**
   * How long a stop waits for the batches in hand before it hands them back (their locks expire
   * and other workers redo them), e.g. when Redis is gone and their completion cannot be written.
   * With nothing in hand a stop waits at most 2 s for the queue's connections. @defaultValue 10000
   */
  stopTimeoutMs?: number;
  /** PEM file of the CA behind the drivers' HTTPS endpoints (direct plane). @defaultValue env CNSN_REDIS_CA */
  caFile?: string;
  /** How the direct plane reaches drivers. @defaultValue an HttpTransport (HTTP and HTTPS, `caFile`) */
  transport?: WorkerTransport;
  /**
   * Wraps each data plane the worker opens (instrumentation; the fault tests hold batches at a
   * stage this way). @defaultValue none
   */
  decoratePlane?: (plane: WorkerDataPlane) => WorkerDataPlane;
}

export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped';

export interface WorkerRuntimeEvents {
  state: [state: WorkerState];
  batch: [info: { run: string; seq: number; kernelMs: number; totalMs: number }];
  failed: [info: { run: string; seq: number; reason: string }];
  /** A heartbeat reached Redis (liveness: a health file, a readiness probe). */
  heartbeat: [at: number];
  error: [err: Error];
}

const SHOWN: Record<LifecycleState, WorkerState> = {
  idle: 'starting',
  starting: 'starting',
  running: 'running',
  stopping: 'draining',
  stopped: 'stopped',
};

/**
 * A long-running worker: takes batch jobs, fetches each input from the data plane its job names,
 * runs the processor, hands the result back, and says what it does (heartbeats for `cnsn status`,
 * events, logs carrying run, batch and worker). A batch that can never succeed fails once with its
 * reason; Redis and other transient faults are retried by BullMQ.
 */
export class WorkerRuntime extends EventEmitter<WorkerRuntimeEvents> {
  readonly id: string;
  private readonly redis: RedisClient;
  private readonly keys: Keyspace;
  private readonly processor: BatchProcessor;
  private readonly logger: Logger;
  private readonly queueName: string;
  private readonly concurrency: number;
  private readonly maxBlobBytes: number;
  private readonly heartbeatMs: number;
  private readonly state: RunState;
  private readonly lifecycle: Lifecycle;
  private readonly runs: RunCache;
  private readonly planes = new Map<DataPlaneKind, WorkerDataPlane>();
  private readonly probesAnswered = new Set<string>();
  private readonly caFile: string | undefined;
  private readonly ca: Buffer | undefined;
  private readonly transport: WorkerTransport | undefined;
  private readonly decoratePlane: (plane: WorkerDataPlane) => WorkerDataPlane;
  private worker: Worker | null = null;
  private readonly stopTimeoutMs: number;
  /** Jobs in hand now (between BullMQ handing one over and its handler returning). */
  private inHand = 0;
  private blobs: BlobStore | null = null;
  /** Reused buffers of each concurrent batch: no allocation per batch. */
  private readonly slots: Slot[] = [];
  private slotCount = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private batches = 0;
  private failed = 0;
  private lastKernelMs = 0;
  private recentKernelMs = 0;

  constructor(options: WorkerRuntimeOptions) {
    super();
    const concurrency = options.concurrency ?? 1;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1)
      throw new Error(`concurrency: must be a positive integer, got ${concurrency}`);
    this.redis = options.redis;
    this.keys = new Keyspace(options.prefix ?? DEFAULT_PREFIX);
    this.processor = options.processor;
    this.queueName = options.queue ?? DEFAULT_QUEUE;
    this.concurrency = concurrency;
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    this.heartbeatMs = options.heartbeatMs ?? 2000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    this.id = options.id ?? `${hostname()}-${process.pid}`;
    this.logger = childLogger(options.logger ?? silentLogger, { worker: this.id });
    this.state = new RunState(this.redis, this.keys, new RedisScripts(this.redis));
    this.caFile = options.caFile ?? process.env.CNSN_REDIS_CA;
    this.transport = options.transport;
    this.decoratePlane = options.decoratePlane ?? ((plane) => plane);
    this.ca = this.caFile ? readFileSync(this.caFile) : undefined;
    this.lifecycle = new Lifecycle(`worker ${this.id}`, (s) => this.emit('state', SHOWN[s]));
    this.runs = new RunCache({
      readSpec: (run) => this.state.spec(run),
      readParams: async (hash) => {
        const text = await this.redis.get(this.keys.params(hash));
        if (text === null) throw new UnrecoverableError(`SelfNorm parameters ${hash} are missing from Redis`);
        return JSON.parse(text) as unknown;
      },
      onForget: (run) => {
        for (const plane of this.planes.values()) plane.forget?.(run);
      },
      ...(options.forgetIdleMs !== undefined ? { idleMs: options.forgetIdleMs } : {}),
    });
  }

  /**
   * An error for whoever listens ('error' events); with nobody listening it is logged only, since an
   * 'error' event without a listener would throw and end the process.
   */
  private report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** The step a stop is in now ('finish the batches in hand', ...), or null. */
  get stoppingStep(): string | null {
    return this.lifecycle.stoppingStep;
  }

  get currentState(): WorkerState {
    return SHOWN[this.lifecycle.state];
  }

  /** Starts taking jobs. Refused when started before; a stop during start waits for it. */
  start(): Promise<void> {
    return this.lifecycle.start(async () => {
      await checkRedisConfig(this.redis, this.logger);
      this.blobs = await openBlobStore(this.redis);
      const host = {
        blobs: this.blobs,
        keys: this.keys,
        state: this.state,
        maxBlobBytes: this.maxBlobBytes,
        ...(this.transport ? { transport: this.transport } : {}),
        ...(this.caFile ? { caFile: this.caFile } : {}),
      };
      const planes = registeredPlanes().map((plane) => plane.openWorker(host));
      for (const plane of planes) this.planes.set(plane.kind, this.decoratePlane(plane));
      this.worker = new Worker(this.queueName, (job) => this.handleCounted(job), {
        connection: this.redis,
        prefix: this.keys.prefix,
        concurrency: this.concurrency,
        ...WORKER_LOCK,
        autorun: false,
      });
      this.worker.on('error', (err) => {
        this.logger.warn({ err: err.message }, 'queue connection error (retrying)');
        this.report(err);
      });
      await this.beat();
      // A stop came while the first heartbeat waited on Redis: go no further (the stop cleans up).
      if (this.lifecycle.stopRequested) return;
      this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), this.heartbeatMs);
      this.heartbeat.unref();
      this.logger.info(
        {
          backend: this.processor.backend,
          detail: this.processor.backendDetail,
          ...(this.processor.adapter ? { adapter: this.processor.adapter } : {}),
          queue: this.queueName,
          concurrency: this.concurrency,
        },
        'worker started',
      );
      // Its loop may end in an error while a stop closes it with Redis gone: that is the stop.
      void this.worker.run().catch((err: Error) => {
        if (this.lifecycle.state === 'running') this.report(err);
        else this.logger.debug({ err: err.message }, 'the queue loop ended while stopping');
      });
    });
  }

  /**
   * Graceful stop: takes no new job, finishes the ones in hand (their results are handed over),
   * then leaves. A job that cannot finish is handed back by BullMQ's stall detection. Every caller
   * awaits the same stop; each cleanup step runs whatever the others did.
   */
  stop(): Promise<void> {
    if (this.lifecycle.state === 'running') this.logger.info({}, 'stopping: finishing the batches in hand');
    return this.lifecycle
      .stop(
        () => [
          ['finish the batches in hand', () => this.closeQueueWorker()],
          ['stop the heartbeat', () => this.heartbeat && clearInterval(this.heartbeat)],
          // Redis may be gone: the heartbeat then expires by itself (WORKER_TTL_MS).
          [
            'remove the heartbeat',
            () =>
              this.redis.status === 'ready' && within(removeHeartbeat(this.redis, this.keys, this.id), 1000),
          ],
          ['close the data planes', () => Promise.all([...this.planes.values()].map((p) => p.close()))],
          ['close the blob connection', () => this.blobs?.close()],
          ['release the backend', () => this.processor.close()],
        ],
        { startWaitMs: 2000 },
      )
      .finally(() => this.logger.info({ batches: this.batches, failed: this.failed }, 'worker stopped'));
  }

  /**
   * Takes no new job and waits for the ones in hand, at most `stopTimeoutMs` (2 s with none in
   * hand, for the queue's connections). Past that, BullMQ's worker is closed without waiting: the
   * batches in hand are handed back (their locks expire, others redo them), whatever Redis does.
   */
  private async closeQueueWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    const reachable = this.redis.status === 'ready';
    const limit = this.inHand ? this.stopTimeoutMs : reachable ? 2000 : 0;
    // With Redis gone, BullMQ's close may reject ("Connection is closed"): the worker stops anyway.
    const noted = (err: Error): void => this.logger.debug({ err: err.message }, 'closing the queue worker');
    if (limit && (await within(worker.close(), limit, noted))) return;
    if (this.inHand)
      this.logger.warn(
        { inHand: this.inHand, waitedMs: limit },
        'the batches in hand could not be finished in time (is Redis reachable?); handing them back: their locks expire and other workers redo them',
      );
    await within(worker.close(true), 1000, noted);
    await within(worker.disconnect(), 500, noted);
  }

  private async beat(): Promise<void> {
    // Runs that ended or went idle are forgotten before memory is reported.
    await this.runs.sweep((runs) => this.state.existing(runs)).catch(() => undefined);
    // Under --expose-gc (the soak's workers) memory is reported after a full collection, so that
    // heap figures compare like with like; production workers never expose it.
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    const info: WorkerInfo = {
      id: this.id,
      host: hostname(),
      address: localAddress(this.redis),
      shmId: shmIdentity(),
      pid: process.pid,
      backend: this.processor.backend,
      backendDetail: this.processor.backendDetail,
      adapter: this.processor.adapter ?? '',
      queue: this.queueName,
      concurrency: this.concurrency,
      state: this.currentState,
      startedAt: this.startedAt,
      batches: this.batches,
      failed: this.failed,
      lastKernelMs: this.lastKernelMs,
      recentKernelMs: this.recentKernelMs,
      lastSeen: Date.now(),
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      runsHeld: this.runs.size.runs,
    };
    await writeHeartbeat(this.redis, this.keys, info);
    this.emit('heartbeat', info.lastSeen);
    // Drivers choosing their data plane ask whether the workers reach them.
    await answerProbes(this.redis, this.keys, this.id, this.probesAnswered, this.ca).catch(() => undefined);
  }

  private async handleCounted(job: Job): Promise<{ status: string; kernelMs?: number }> {
    this.inHand++;
    try {
      return await this.handle(job);
    } finally {
      this.inHand--;
    }
  }

  /** BullMQ keeps the return value: the dashboard reads kernel time from it. */
  private async handle(job: Job): Promise<{ status: string; kernelMs?: number }> {
    const started = performance.now();
    const data = this.parseJob(job);
    const { run, seq } = data;
    const log = childLogger(this.logger, { run, seq });
    const plane = this.planes.get(data.plane);
    if (!plane) throw new UnrecoverableError(`job ${job.id}: no ${data.plane} data plane in this worker`);
    const status = await this.state.batchStatus(run, seq);
    const spec = status.exists ? await this.runs.acquire(run, data.inc) : null;
    if (!spec) {
      log.info({}, 'run is gone; dropping its batch');
      await plane.discard(data);
      return { status: 'obsolete' };
    }
    try {
      // Done already: delivered, failed for good, or (a job redone after a stall or a retry) its
      // result handed over before.
      const redone = job.attemptsMade > 0 || (job.stalledCounter ?? 0) > 0;
      if (seq < status.delivered || status.failed || (redone && (await plane.hasResult(data)))) {
        log.debug({}, 'batch already done; nothing to do');
        return { status: 'duplicate' };
      }
      return await this.augment(job, data, spec, plane, log, started);
    } finally {
      this.runs.release(run);
    }
  }

  /** Job data is data: a job of the wrong form can never succeed, and is not retried. */
  private parseJob(job: Job): BatchJobData {
    try {
      return parseBatchJobData(job.data, `job ${job.id}`);
    } catch (err) {
      this.logger.warn({ job: job.id, reason: (err as Error).message }, 'job refused');
      throw new UnrecoverableError((err as Error).message);
    }
  }

  /** Fetches, computes and hands back one batch in a slot of reused buffers. */
  private async augment(
    job: Job,
    data: BatchJobData,
    spec: RunSpec,
    plane: WorkerDataPlane,
    log: Logger,
    started: number,
  ): Promise<{ status: string; kernelMs: number }> {
    const { run, seq } = data;
    const slot = this.slots.pop() ?? new Slot(this.slotCount++);
    try {
      const tFetch = performance.now();
      const input = await this.fetchInput(job, data, spec, plane, slot);
      // The set the job names (the driver changed it), else the run's own.
      const params = spec.selfnorm
        ? await this.runs.paramsOf(data.paramsHash ?? spec.selfnorm.paramsHash, run)
        : null;
      const t0 = performance.now();
      const parts = await this.processor.process(input, { spec, seq, params, slot: slot.id }, (out, meta) => {
        const resultMeta: ResultMeta = {
          seq,
          status: 'ok',
          plan: meta.plan,
          selfnormStats: meta.selfnormStats,
          backend: this.processor.backend,
          worker: this.id,
          ...(spec.selfnorm ? { selfnormVersion: data.paramsVersion ?? 0 } : {}),
          ...(meta.stats ? { stats: meta.stats } : {}),
        };
        return encodeResult(out, input.shape, resultMeta, spec.wire, slot, !this.processor.stableOutput);
      });
      const kernelMs = performance.now() - t0;
      const tPut = performance.now();
      await plane.putResult(data, parts);
      const tBook = performance.now();
      // Counted once whatever happens next; a run that went meanwhile takes its result with it.
      if ((await this.state.complete(run, seq)) === -1) await plane.discard(data);
      this.batches++;
      this.lastKernelMs = kernelMs;
      this.recentKernelMs = this.recentKernelMs ? 0.8 * this.recentKernelMs + 0.2 * kernelMs : kernelMs;
      const totalMs = performance.now() - started;
      log.debug(
        {
          checkMs: round(tFetch - started),
          fetchMs: round(t0 - tFetch),
          kernelMs: round(kernelMs),
          putMs: round(tBook - tPut),
          bookMs: round(performance.now() - tBook),
          totalMs: round(totalMs),
        },
        'batch done',
      );
      this.emit('batch', { run, seq, kernelMs, totalMs });
      return { status: 'ok', kernelMs: round(kernelMs) };
    } catch (err) {
      throw await this.classifyFailure(err, data, log);
    } finally {
      this.slots.push(slot);
    }
  }

  /** The batch's input, decoded (straight into the processor's own memory when it offers a place). */
  private async fetchInput(
    job: Job,
    data: BatchJobData,
    spec: RunSpec,
    plane: WorkerDataPlane,
    slot: Slot,
  ): Promise<ProcessorInput> {
    const { run, seq } = data;
    const count = data.shape.reduce((a, b) => a * b, 1);
    const dataOffset = data.bytes - count * bytesPerValue(spec.wire);
    const target =
      dataOffset > 0
        ? ((await this.processor.inputTarget?.(slot.id, data.shape, data.bytes, dataOffset, spec.wire)) ??
          null)
        : null;
    // A 16-bit input the processor takes as it is (into its target), else widened for it.
    const floats =
      spec.wire === 'float32' || target
        ? null
        : ((await this.processor.inputFloats?.(slot.id, data.shape)) ?? null);
    let bytes: Uint8Array;
    try {
      bytes = await plane.fetchInput(data, (length) =>
        target && length === target.length ? target : slot.input(length),
      );
    } catch (err) {
      // Redis may have lost the input, or the driver is restarting: wait (BullMQ's backoff)
      // until the last attempt, which fails the batch.
      if (err instanceof InputMissingError && isLastAttempt(job)) throw new UnrecoverableError(err.message);
      throw err;
    }
    const source = `input of batch ${seq} of run ${run}`;
    const input =
      spec.wire !== 'float32' && target && sameBytes(bytes, target)
        ? halvesOf(bytes, source, this.maxBlobBytes, spec.wire)
        : decodeTensorBlob(bytes, source, this.maxBlobBytes, (n) =>
            floats && floats.length === n ? floats : slot.floats(n),
          );
    if (input.shape.length !== 4)
      throw new ProtocolError(source, `expected a 4-D NCHW tensor, got shape [${input.shape.join(', ')}]`);
    return input;
  }

  /**
   * A batch that can never succeed (bad input, a protocol fault, a permanent kernel error) fails once
   * with its reason and is not retried; anything else goes back to BullMQ, which retries it.
   */
  private async classifyFailure(err: unknown, data: BatchJobData, log: Logger): Promise<unknown> {
    const permanent =
      err instanceof UnrecoverableError || this.processor.isPermanent(err) || err instanceof ProtocolError;
    if (!permanent) {
      log.warn({ err: (err as Error).message }, 'batch failed; BullMQ will retry');
      return err;
    }
    const reason = (err as Error).message;
    const field = (err as { field?: string }).field;
    const record: FailureRecord = {
      seq: data.seq,
      reason,
      ...(field ? { field } : {}),
      worker: this.id,
      at: Date.now(),
    };
    await this.state.fail(data.run, record);
    this.failed++;
    log.warn({ reason }, 'batch failed: bad input (not retried)');
    this.emit('failed', { run: data.run, seq: data.seq, reason });
    return err instanceof UnrecoverableError ? err : new UnrecoverableError(reason);
  }
}

/** Whether a fetched blob is the target the processor gave (the plane wrote into it). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}

/** A 16-bit input left where it was received, its values as they came (the processor widens them). */
function halvesOf(
  bytes: Uint8Array,
  source: string,
  maxBytes: number,
  wire: RunSpec['wire'],
): ProcessorInput {
  const { shape, dtype, raw } = readTensorBlobHeader(bytes, source, maxBytes);
  if (dtype !== wire) throw new ProtocolError(source, `expected ${wire} values, got ${dtype}`);
  if (raw.byteOffset % 2) throw new ProtocolError(source, '16-bit values at an odd offset');
  return {
    shape,
    data: new Float32Array(0),
    halves: new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2),
  };
}

/**
 * A result blob in parts: the prefix and the values in the run's wire precision. In float32 the
 * values go as they are when the processor keeps them for the slot (`copy` false), else in the
 * slot's reused output buffer (the backend may reuse its own for the next batch). Values the
 * processor gave in 16 bits are the run's wire already, and go as they are.
 */
function encodeResult(
  out: Float32Array | Uint16Array,
  shape: number[],
  meta: ResultMeta,
  wire: RunSpec['wire'],
  slot: Slot,
  copy: boolean,
): Uint8Array[] {
  if (out instanceof Uint16Array) {
    if (wire === 'float32') throw new Error('a processor returned 16-bit values for a float32 run');
    return [
      tensorBlobPrefix(shape, out.byteLength, meta, wire),
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
    ];
  }
  if (wire === 'float32') {
    if (!copy)
      return [
        tensorBlobPrefix(shape, out.byteLength, meta),
        new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      ];
    const bytes = slot.output(out.byteLength);
    bytes.set(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
    return [tensorBlobPrefix(shape, out.byteLength, meta), bytes];
  }
  const bytes = slot.output(out.length * 2);
  narrowFloat32(out, wire, new Uint16Array(bytes.buffer, bytes.byteOffset, out.length));
  return [tensorBlobPrefix(shape, bytes.byteLength, meta, wire), bytes];
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Reusable buffers of one concurrent batch; they grow to the largest batch seen. */
class Slot {
  constructor(readonly id: number) {}

  private inBuf = new Uint8Array(0);
  private outBuf = new Uint8Array(0);
  private floatBuf = new Float32Array(0);

  input(length: number): Uint8Array {
    if (this.inBuf.length < length) this.inBuf = new Uint8Array(length);
    return this.inBuf.subarray(0, length);
  }

  output(length: number): Uint8Array {
    if (this.outBuf.length < length) this.outBuf = new Uint8Array(length);
    return this.outBuf.subarray(0, length);
  }

  /** Where a 16-bit input is widened to float32. */
  floats(count: number): Float32Array {
    if (this.floatBuf.length < count) this.floatBuf = new Float32Array(count);
    return this.floatBuf.subarray(0, count);
  }
}

/**
 * The local address of the worker's Redis connection: its host as the network sees it (hosts in
 * containers or namespaces often share a host name). '' on a cluster client or before connecting.
 */
function localAddress(redis: RedisClient): string {
  return (redis as { stream?: { localAddress?: string } }).stream?.localAddress ?? '';
}
