import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import {
  decodeTensorBlob,
  DEFAULT_MAX_BLOB_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  type FailureRecord,
  Keyspace,
  parseBatchJobData,
  parseRunSpec,
  ProtocolError,
  type ResultMeta,
  type RunSpec,
  tensorBlobPrefix,
} from '@cnsn/protocol';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BatchProcessor } from './batch-processor.js';
import { BlobConnection, targetOfClient } from './blob-connection.js';
import { childLogger, type Logger, silentLogger } from './logger.js';
import { checkRedisConfig } from './redis-connection.js';
import { removeHeartbeat, type WorkerInfo, writeHeartbeat } from './worker-registry.js';

/** Lock and stall settings: a dead worker's batch is taken over within about lockDuration + stalledInterval. */
export const WORKER_LOCK = { lockDuration: 8000, stalledInterval: 4000, maxStalledCount: 3 } as const;

export interface WorkerRuntimeOptions {
  /** A connected client (see connectRedis); BullMQ makes its own blocking connection from it. */
  redis: Redis;
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
}

export type WorkerState = 'starting' | 'running' | 'draining' | 'stopped';

export interface WorkerRuntimeEvents {
  state: [state: WorkerState];
  batch: [info: { run: string; seq: number; kernelMs: number; totalMs: number }];
  failed: [info: { run: string; seq: number; reason: string }];
  error: [err: Error];
}

/**
 * A long-running worker: takes batch jobs, runs the processor, stores results, and says what it
 * does (heartbeats for `cnsn status`, events, logs carrying run, batch and worker). A batch that can
 * never succeed fails once with its reason; Redis and other transient faults are retried by BullMQ.
 */
export class WorkerRuntime extends EventEmitter<WorkerRuntimeEvents> {
  readonly id: string;
  private readonly redis: Redis;
  private readonly keys: Keyspace;
  private readonly processor: BatchProcessor;
  private readonly logger: Logger;
  private readonly queueName: string;
  private readonly concurrency: number;
  private readonly maxBlobBytes: number;
  private readonly heartbeatMs: number;
  private readonly specs = new Map<string, RunSpec>();
  private readonly params = new Map<string, unknown>();
  private worker: Worker | null = null;
  private blobs: BlobConnection | null = null;
  /** One input and one output buffer per concurrent batch, reused: no allocation per batch. */
  private readonly slots: Slot[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private current: WorkerState = 'starting';
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
    this.id = options.id ?? `${hostname()}-${process.pid}`;
    this.logger = childLogger(options.logger ?? silentLogger, { worker: this.id });
  }

  get state(): WorkerState {
    return this.current;
  }

  /** Starts taking jobs. */
  async start(): Promise<void> {
    await checkRedisConfig(this.redis, this.logger);
    this.blobs = await BlobConnection.open(targetOfClient(this.redis));
    this.worker = new Worker(this.queueName, (job) => this.handle(job), {
      connection: this.redis,
      prefix: this.keys.prefix,
      concurrency: this.concurrency,
      ...WORKER_LOCK,
      autorun: false,
    });
    this.worker.on('error', (err) => {
      this.logger.warn({ err: err.message }, 'queue connection error (retrying)');
      this.emit('error', err);
    });
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat().catch(() => undefined), this.heartbeatMs);
    this.heartbeat.unref();
    this.setState('running');
    this.logger.info(
      {
        backend: this.processor.backend,
        detail: this.processor.backendDetail,
        queue: this.queueName,
        concurrency: this.concurrency,
      },
      'worker started',
    );
    void this.worker.run().catch((err: Error) => this.emit('error', err));
  }

  /**
   * Graceful stop: takes no new job, finishes the ones in hand (their results are stored), then
   * leaves. A job that cannot finish is handed back by BullMQ's stall detection.
   */
  async stop(): Promise<void> {
    if (this.current === 'stopped' || this.current === 'draining') return;
    this.setState('draining');
    this.logger.info({}, 'stopping: finishing the batches in hand');
    await this.worker?.close();
    if (this.heartbeat) clearInterval(this.heartbeat);
    await removeHeartbeat(this.redis, this.keys, this.id).catch(() => undefined);
    this.blobs?.close();
    await this.processor.close();
    this.setState('stopped');
    this.logger.info({ batches: this.batches, failed: this.failed }, 'worker stopped');
  }

  private setState(state: WorkerState): void {
    this.current = state;
    this.emit('state', state);
  }

  private async beat(): Promise<void> {
    const info: WorkerInfo = {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      backend: this.processor.backend,
      backendDetail: this.processor.backendDetail,
      queue: this.queueName,
      concurrency: this.concurrency,
      state: this.current,
      startedAt: this.startedAt,
      batches: this.batches,
      failed: this.failed,
      lastKernelMs: this.lastKernelMs,
      recentKernelMs: this.recentKernelMs,
      lastSeen: Date.now(),
    };
    await writeHeartbeat(this.redis, this.keys, info);
  }

  /** BullMQ keeps the return value: the dashboard reads kernel time from it. */
  private async handle(job: Job): Promise<{ status: string; kernelMs?: number }> {
    const started = performance.now();
    let data;
    try {
      data = parseBatchJobData(job.data, `job ${job.id}`);
    } catch (err) {
      // Job data is data: a job of the wrong form can never succeed, and is not retried.
      this.logger.warn({ job: job.id, reason: (err as Error).message }, 'job refused');
      throw new UnrecoverableError((err as Error).message);
    }
    const { run, seq } = data;
    const log = childLogger(this.logger, { run, seq });
    const spec = await this.spec(run);
    if (!spec) {
      log.info({}, 'run is gone; dropping its batch');
      await this.redis.unlink(this.keys.input(run, seq));
      return { status: 'obsolete' };
    }
    const [hasOut, hasErr, delivered] = await Promise.all([
      this.redis.exists(this.keys.output(run, seq)),
      this.redis.exists(this.keys.failure(run, seq)),
      this.redis.hget(this.keys.run(run), 'delivered'),
    ]);
    if (hasOut || hasErr || seq < Number(delivered ?? 0)) {
      // A retry after a crash, or a re-enqueue after a restart: the batch is done already.
      if (!hasErr) await this.redis.unlink(this.keys.input(run, seq));
      log.debug({}, 'batch already done; nothing to do');
      return { status: 'duplicate' };
    }
    const slot = this.slots.pop() ?? new Slot();
    try {
      const input = await this.fetchInput(run, seq, job, slot);
      const params = spec.selfnorm ? await this.paramsOf(spec.selfnorm.paramsHash) : null;
      const t0 = performance.now();
      const parts = await this.processor.process(input, { spec, seq, params }, (out, meta) => {
        const bytes = slot.output(out.byteLength);
        bytes.set(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
        const resultMeta: ResultMeta = {
          seq,
          status: 'ok',
          plan: meta.plan,
          selfnormStats: meta.selfnormStats,
          backend: this.processor.backend,
          worker: this.id,
        };
        return [tensorBlobPrefix(input.shape, out.byteLength, resultMeta), bytes];
      });
      const kernelMs = performance.now() - t0;
      await this.complete(run, seq, parts);
      this.batches++;
      this.lastKernelMs = kernelMs;
      this.recentKernelMs = this.recentKernelMs ? 0.8 * this.recentKernelMs + 0.2 * kernelMs : kernelMs;
      const totalMs = performance.now() - started;
      log.debug({ kernelMs: round(kernelMs), totalMs: round(totalMs) }, 'batch done');
      this.emit('batch', { run, seq, kernelMs, totalMs });
      return { status: 'ok', kernelMs: round(kernelMs) };
    } catch (err) {
      if (
        err instanceof UnrecoverableError ||
        this.processor.isPermanent(err) ||
        err instanceof ProtocolError
      ) {
        const reason = (err as Error).message;
        await this.recordFailure(run, seq, reason, (err as { field?: string }).field);
        this.failed++;
        log.warn({ reason }, 'batch failed: bad input (not retried)');
        this.emit('failed', { run, seq, reason });
        throw err instanceof UnrecoverableError ? err : new UnrecoverableError(reason);
      }
      log.warn(
        { err: (err as Error).message, attempt: job.attemptsMade + 1 },
        'batch failed; BullMQ will retry',
      );
      throw err;
    } finally {
      this.slots.push(slot);
    }
  }

  private async fetchInput(
    run: string,
    seq: number,
    job: Job,
    slot: Slot,
  ): Promise<{ shape: number[]; data: Float32Array }> {
    const key = this.keys.input(run, seq);
    const size = await this.redis.strlen(key);
    if (size === 0) {
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      // Redis may have lost the blob in a restart; the driver re-enqueues it, so wait a while first.
      if (!last) throw new Error(`input blob ${key} is missing; waiting for the driver to enqueue it again`);
      throw new UnrecoverableError(`input blob ${key} is missing`);
    }
    if (size > this.maxBlobBytes)
      throw new ProtocolError(`blob ${key}`, `${size} bytes exceeds the limit of ${this.maxBlobBytes}`);
    const bytes = await this.blobStore().command(['GET', key], (length) => slot.input(length));
    if (!(bytes instanceof Uint8Array)) throw new Error(`input blob ${key} vanished while being read`);
    const blob = decodeTensorBlob(bytes, `blob ${key}`, this.maxBlobBytes);
    if (blob.shape.length !== 4)
      throw new ProtocolError(
        `blob ${key}`,
        `expected a 4-D NCHW tensor, got shape [${blob.shape.join(', ')}]`,
      );
    return { shape: blob.shape, data: blob.data };
  }

  private blobStore(): BlobConnection {
    if (!this.blobs) throw new Error('worker not started');
    return this.blobs;
  }

  /**
   * Stores the result with a plain SET (a blob passed through a Lua script is copied twice more by
   * Redis), pipelined with the bookkeeping script. Should the run be gone, the script removes it.
   */
  private async complete(run: string, seq: number, blob: Uint8Array[]): Promise<void> {
    const now = Date.now();
    const blobs = this.blobStore();
    const stored = blobs.command(['SET', this.keys.output(run, seq), blob]);
    const booked = blobs.command([
      'EVAL',
      COMPLETE,
      '5',
      this.keys.run(run),
      this.keys.output(run, seq),
      this.keys.input(run, seq),
      this.keys.timeline(run),
      this.keys.ready(run),
      String(seq),
      String(now),
      String(now - 120_000),
    ]);
    await Promise.all([stored, booked]);
  }

  private async recordFailure(run: string, seq: number, reason: string, field?: string): Promise<void> {
    const record: FailureRecord = {
      seq,
      reason,
      ...(field ? { field } : {}),
      worker: this.id,
      at: Date.now(),
    };
    await this.redis.eval(
      FAIL,
      3,
      this.keys.run(run),
      this.keys.failure(run, seq),
      this.keys.ready(run),
      JSON.stringify(record),
      String(seq),
    );
  }

  private async spec(run: string): Promise<RunSpec | null> {
    const cached = this.specs.get(run);
    if (cached) return (await this.redis.exists(this.keys.run(run))) ? cached : null;
    const text = await this.redis.hget(this.keys.run(run), 'spec');
    if (text === null) return null;
    const spec = parseRunSpec(text, this.keys.run(run));
    this.specs.set(run, spec);
    return spec;
  }

  /** SelfNorm parameters by content hash, fetched once per worker and kept. */
  private async paramsOf(hash: string): Promise<unknown> {
    if (this.params.has(hash)) return this.params.get(hash);
    const text = await this.redis.get(this.keys.params(hash));
    if (text === null) throw new UnrecoverableError(`SelfNorm parameters ${hash} are missing from Redis`);
    const params: unknown = JSON.parse(text);
    this.params.set(hash, params);
    return params;
  }
}

// Bookkeeping of a stored result; a result of a run that is gone (a late duplicate) is removed.
const COMPLETE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('UNLINK', KEYS[2], KEYS[3])
  return 0
end
redis.call('UNLINK', KEYS[3])
redis.call('HINCRBY', KEYS[1], 'done', 1)
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[3])
redis.call('RPUSH', KEYS[5], ARGV[1])
return 1`;

const FAIL = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'failed', 1)
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1`;

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Reusable buffers of one concurrent batch; they grow to the largest batch seen. */
class Slot {
  private inBuf = new Uint8Array(0);
  private outBuf = new Uint8Array(0);

  input(length: number): Uint8Array {
    if (this.inBuf.length < length) this.inBuf = new Uint8Array(length);
    return this.inBuf.subarray(0, length);
  }

  output(length: number): Uint8Array {
    if (this.outBuf.length < length) this.outBuf = new Uint8Array(length);
    return this.outBuf.subarray(0, length);
  }
}
