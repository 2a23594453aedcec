import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  buildRunSpec,
  DATA_PLANES,
  type DataPlaneKind,
  DEFAULT_MAX_BLOB_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  jobId,
  Keyspace,
  type RunRequest,
  type RunSpec,
} from '@cnsn/protocol';
import { Queue } from 'bullmq';
import type { RedisClient } from './redis/redis-connection.js';
import { RedisRunControl } from './control/redis-run-control.js';
import { BufferPool } from './data-plane/buffer-pool.js';
import type { DriverDataPlane, DriverPlaneContext } from './data-plane/data-plane.js';
import { DirectServer } from './data-plane/direct/direct-server.js';
import { probeWorkers } from './data-plane/direct/reach-probe.js';
import { PLANE_REGISTRY } from './data-plane/plane-registry.js';
import { shmIdentity } from './data-plane/shm/shm-files.js';
import { RunExistsError, RunFinishedError } from './errors.js';
import { childLogger, type Logger, silentLogger } from './logger.js';
import { PipelineRun, type ResumeInfo } from './pipeline-run.js';
import type { BlobStore } from './redis/blob-connection.js';
import { openBlobStore } from './redis/blob-store.js';
import {
  checkRedisConfig,
  connectRedis,
  DEFAULT_CONNECT_TIMEOUT_MS,
  duplicateClient,
  type RedisTarget,
} from './redis/redis-connection.js';
import { RedisScripts } from './redis/scripts.js';
import { RunState } from './run-state.js';
import { type PipelineStatus, readStatus } from './status.js';
import { listWorkers } from './worker-registry.js';
import { type CleanupStep, runCleanup } from './lifecycle.js';

export interface PipelineOptions {
  /** Redis URL (redis:// or rediss://) or target, or a connected client. */
  redis: string | RedisTarget | RedisClient;
  /** Key prefix with a hash tag. @defaultValue '{cnsn}' */
  prefix?: string;
  /** BullMQ queue name. @defaultValue 'augment' */
  queue?: string;
  /** @defaultValue a silent logger */
  logger?: Logger;
  /** Largest blob read back. @defaultValue 256 MiB */
  maxBlobBytes?: number;
  /**
   * How long a refused or reset first connection to Redis is retried; a wrong password, an ACL
   * refusal or an untrusted certificate fails at once. @defaultValue 30000
   */
  connectTimeoutMs?: number;
  /** The driver's endpoint for direct-plane runs (started with the first one). */
  direct?: DirectPlaneOptions;
  /** The plane of runs that do not name one. @defaultValue 'auto' */
  dataPlane?: DataPlaneChoice;
}

/** Where and how the driver serves direct-plane runs. */
export interface DirectPlaneOptions {
  /** `HOST:PORT` to listen on. @defaultValue a free loopback port when every live worker runs on this host, else a free port on all interfaces */
  listen?: string;
  /** `HOST:PORT` workers are told. @defaultValue the listen host when it names one, else the host name; port 0: the bound port */
  advertise?: string;
  /** Serve HTTPS with this certificate and key (PEM files); workers trust it through CNSN_REDIS_CA. */
  tls?: { certFile: string; keyFile: string };
  /** A result body that sends nothing this long is dropped (the batch is redone). @defaultValue 30000 */
  stallTimeoutMs?: number;
  /** How long `auto` waits for the workers to say whether they reach the endpoint. @defaultValue 5000 */
  probeTimeoutMs?: number;
  /** Plain HTTP: read result bodies straight into the run's buffers; false: copied chunk by chunk. @defaultValue true */
  readInPlace?: boolean;
}

/** Where a run starts: its spec, its cursor, and how it was found (new, or resumed). */
interface RunStart {
  spec: RunSpec;
  cursor: number;
  previouslyEnqueued: number;
  resumed: ResumeInfo | null;
  planeChoice: string;
}

/** `redis`, `direct`, `shm`, or `auto`: direct (or shm, see `localPlane`) when the workers can reach the driver, else redis. */
export type DataPlaneChoice = DataPlaneKind | 'auto';

/** Options of one run, on top of what its spec holds (see RunRequest). */
export interface OpenRunOptions extends RunRequest {
  /** Continue run `runId` from its first batch not yet delivered (or start it, if Redis never saw it). @defaultValue false */
  resume?: boolean;
  /** Batches enqueued and not yet delivered, at most. @defaultValue 4 x the live workers' slots, at least 8, at most 64 */
  maxInFlight?: number;
  /** Larger batches are refused at enqueue. @defaultValue 256 MiB */
  maxBatchBytes?: number;
  /** How long an enqueue waits for Redis memory. @defaultValue 600000 */
  oomWaitMs?: number;
  /** Remove a finished run from Redis on close. @defaultValue true */
  removeOnClose?: boolean;
  /**
   * Receive results in reused buffers (no allocation per batch): a batch's data is then valid only
   * until the next is asked for. @defaultValue false
   */
  reuseResultBuffers?: boolean;
  /** How long one wait for a batch lasts before the batch is checked for loss. @defaultValue 5000 */
  wakeTimeoutMs?: number;
  /**
   * On a plane whose tensors are files on this host (shm) with a float32 wire: leave each result
   * where it lies (`batch.place`, `data` empty) for a client on this host to read. Elsewhere it does
   * nothing. @defaultValue false
   */
  resultsInPlace?: boolean;
  /** How the run's tensors travel (a resumed run keeps its plane). @defaultValue the pipeline's `dataPlane` */
  dataPlane?: DataPlaneChoice;
  /**
   * The plane `auto` takes when every live worker runs on this host: `direct` (loopback), or `shm`
   * for a driver whose client writes and reads tensors in place (the Python client's gateway).
   * @defaultValue 'direct'
   */
  localPlane?: 'direct' | 'shm';
}

/**
 * The driver's side of the pipeline: opens runs on a shared worker pool, reports status. Redis
 * restarts are survived: clients reconnect, and each open run puts again on their way the batches
 * Redis lost.
 */
export class Pipeline {
  readonly keys: Keyspace;
  readonly queue: Queue;
  readonly redis: RedisClient;
  private readonly blobs: BlobStore;
  private readonly state: RunState;
  private readonly logger: Logger;
  private readonly maxBlobBytes: number;
  private readonly runs = new Set<PipelineRun>();
  private readonly ownsRedis: boolean;
  private sawDisconnect = false;
  private closing: Promise<void> | null = null;
  private readonly directOptions: DirectPlaneOptions;
  private readonly defaultPlane: DataPlaneChoice;
  private server: Promise<DirectServer> | null = null;

  private constructor(redis: RedisClient, blobs: BlobStore, ownsRedis: boolean, options: PipelineOptions) {
    this.redis = redis;
    this.blobs = blobs;
    this.ownsRedis = ownsRedis;
    this.keys = new Keyspace(options.prefix ?? DEFAULT_PREFIX);
    this.logger = options.logger ?? silentLogger;
    this.maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
    this.directOptions = options.direct ?? {};
    this.defaultPlane = options.dataPlane ?? 'auto';
    this.queue = new Queue(options.queue ?? DEFAULT_QUEUE, { connection: redis, prefix: this.keys.prefix });
    this.queue.on('error', (err) =>
      this.logger.warn({ err: err.message }, 'queue connection error (retrying)'),
    );
    this.state = new RunState(redis, this.keys, new RedisScripts(redis));
    redis.on('close', () => (this.sawDisconnect = true));
    redis.on('ready', () => {
      if (!this.sawDisconnect) return;
      this.sawDisconnect = false;
      this.logger.warn({}, 'Redis is back; checking the batches in flight');
      for (const run of this.runs)
        void run
          .reassert()
          .catch((err: Error) => this.logger.error({ run: run.id, err: err.message }, 're-enqueue failed'));
    });
  }

  /** Connects (or adopts a client) and checks Redis's eviction policy. */
  static async connect(options: PipelineOptions): Promise<Pipeline> {
    // A time of 0 is refused, not read as "the default".
    for (const name of ['stallTimeoutMs', 'probeTimeoutMs'] as const) {
      const value = options.direct?.[name];
      if (value !== undefined && !(value > 0))
        throw new Error(`direct.${name}: must be a positive number of ms, got ${value}`);
    }
    const given = options.redis;
    const owns = typeof given === 'string' || !('status' in given);
    const connect = {
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      logger: options.logger ?? silentLogger,
    };
    const redis = owns
      ? await connectRedis(
          typeof given === 'string' ? { url: given } : (given as RedisTarget),
          'cnsn-driver',
          connect,
        )
      : (given as RedisClient);
    const pipeline = new Pipeline(redis, await openBlobStore(redis, connect), owns, options);
    await checkRedisConfig(redis, pipeline.logger);
    return pipeline;
  }

  /** Opens a run (or resumes one with `resume: true` and its `runId`). */
  async openRun(options: OpenRunOptions = {}): Promise<PipelineRun> {
    if (this.closing) throw new Error('the pipeline is closed');
    const runId = options.runId ?? `run-${randomBytes(6).toString('hex')}`;
    const logger = childLogger(this.logger, { run: runId });
    const start =
      (await this.resumeRun(runId, options, logger)) ?? (await this.createRun(runId, options, logger));
    const maxInFlight = options.maxInFlight ?? (await this.defaultWindow());
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1)
      throw new Error(`maxInFlight: must be a positive integer, got ${maxInFlight}`);
    if (options.wakeTimeoutMs !== undefined && !(options.wakeTimeoutMs > 0))
      throw new Error(`wakeTimeoutMs: must be a positive number of ms, got ${options.wakeTimeoutMs}`);
    const { spec } = start;
    const results = new BufferPool(options.reuseResultBuffers ?? false);
    const plane = await this.openDriverPlane(spec, { run: runId, results, maxBlobBytes: this.maxBlobBytes });
    const run = new PipelineRun({
      ...start,
      plane,
      control: this.runControl(spec),
      results,
      maxInFlight,
      maxBatchBytes: options.maxBatchBytes ?? DEFAULT_MAX_BLOB_BYTES,
      maxBlobBytes: this.maxBlobBytes,
      oomWaitMs: options.oomWaitMs ?? 600_000,
      logger,
      ...(options.wakeTimeoutMs !== undefined ? { wakeTimeoutMs: options.wakeTimeoutMs } : {}),
      resultsInPlace: Boolean(options.resultsInPlace && plane.places && spec.wire === 'float32'),
      ...(options.removeOnClose === false ? {} : { remove: () => this.state.remove(runId, spec) }),
      publishPreview: (seq, png) => this.state.putPreview(runId, seq, png),
      recordDigest: (digest) => this.state.setDigest(runId, digest),
      recordConsumer: (figures) => this.state.setConsumer(runId, figures),
      onClose: (closed) => this.runs.delete(closed),
    });
    this.runs.add(run);
    return run;
  }

  /**
   * With `resume`, the run as Redis holds it (spec, cursor, what was enqueued); null when there is
   * none to resume. A finished run's id (its record is kept) is refused either way.
   */
  private async resumeRun(runId: string, options: OpenRunOptions, logger: Logger): Promise<RunStart | null> {
    const existing = options.resume ? await this.state.spec(runId) : null;
    const counters = existing ? await this.state.counters(runId) : null;
    if (!existing || !counters) {
      // A finished run's id: nothing to resume, and not to be used again while its record is kept.
      const finished = await this.state.finished(runId);
      if (finished) throw new RunFinishedError(finished, options.resume ?? false);
      return null;
    }
    await this.state.reopen(runId);
    let planeChoice = `${existing.dataPlane}: the run's own plane (resumed)`;
    if (existing.dataPlane === 'direct') planeChoice += `; serving at ${(await this.directServer()).url}`;
    logger.info({ from: counters.delivered, enqueued: counters.enqueued }, 'resuming run');
    return {
      spec: existing,
      cursor: counters.delivered,
      previouslyEnqueued: counters.enqueued,
      resumed: { from: counters.delivered, known: true },
      planeChoice,
    };
  }

  /** A new run: its plane chosen, its spec built and registered. */
  private async createRun(runId: string, options: OpenRunOptions, logger: Logger): Promise<RunStart> {
    const choice = await this.choosePlane(options.dataPlane ?? this.defaultPlane, logger, options.localPlane);
    const built = buildRunSpec(options, runId, choice.plane);
    if (!(await this.state.create(built.spec, built.paramsJson))) throw new RunExistsError(runId);
    // A driver killed before it registered its run leaves nothing to resume: start it afresh,
    // so a supervisor that always passes resume works after an early crash too.
    if (options.resume)
      logger.warn({}, 'nothing to resume (Redis never saw this run): starting it from batch 0');
    return {
      spec: built.spec,
      cursor: 0,
      previouslyEnqueued: 0,
      resumed: options.resume ? { from: 0, known: false } : null,
      planeChoice: `${choice.plane}: ${choice.why}`,
    };
  }

  /** The run's control plane: its jobs, its state, a blocking connection of its own for wake-ups. */
  private runControl(spec: RunSpec): RedisRunControl {
    const blocking = duplicateClient(this.redis, `cnsn-collector-${spec.run}`);
    blocking.on('error', () => undefined); // reconnects by itself; the collector re-checks the plane
    return new RedisRunControl({
      run: spec.run,
      queue: this.queue,
      state: this.state,
      keys: this.keys,
      blocking,
      ...(spec.incarnation ? { incarnation: spec.incarnation } : {}),
    });
  }

  /**
   * Gives a failed batch another go (e.g. from the dashboard): its failure record goes and its job is
   * retried, so the run's collector finds a result instead. Only while the collector has not passed it.
   */
  async retryBatch(run: string, seq: number): Promise<void> {
    const counters = await this.state.counters(run);
    if (!counters) throw new Error(`run ${run} is not open`);
    if (seq < counters.delivered)
      throw new Error(
        `run ${run}: batch ${seq} is behind the collector (delivered ${counters.delivered}); too late to retry`,
      );
    const record = await this.state.failure(run, seq);
    if (record?.worker === 'driver')
      throw new Error(`run ${run}: batch ${seq} was never enqueued; the driver must enqueue it`);
    const spec = await this.state.spec(run);
    const job = await this.queue.getJob(jobId(run, seq, spec?.incarnation));
    if (!job || !(await job.isFailed()))
      throw new Error(`run ${run}: batch ${seq} has no failed job to retry`);
    await this.state.retryFailure(run, seq);
    await job.retry('failed');
  }

  /** The latest preview PNG a run's driver published, or null. */
  preview(run: string): Promise<Buffer | null> {
    return this.state.preview(run);
  }

  async status(): Promise<PipelineStatus> {
    return readStatus(this.redis, this.queue, this.keys, this.state);
  }

  /**
   * Closes open runs (they stay resumable unless finished) and the connections this object made.
   * Every caller awaits the same closing; each step runs whatever the others did, and the closing
   * rejects naming every step that failed.
   */
  close(): Promise<void> {
    this.closing ??= runCleanup('pipeline', [
      ...[...this.runs].map((run): CleanupStep => [`close run ${run.id}`, () => run.close()]),
      ['stop the direct endpoint', async () => (await this.server?.catch(() => null))?.close()],
      ['close the queue', () => this.queue.close()],
      ['close the blob connections', () => this.blobs.close()],
      ...(this.ownsRedis ? [['disconnect from Redis', () => this.redis.disconnect()] as CleanupStep] : []),
    ]);
    return this.closing;
  }

  private openDriverPlane(spec: RunSpec, ctx: DriverPlaneContext): Promise<DriverDataPlane> {
    const host = {
      blobs: this.blobs,
      keys: this.keys,
      state: this.state,
      directServer: () => this.directServer(),
    };
    return PLANE_REGISTRY[spec.dataPlane].openDriver(host, spec, ctx);
  }

  /** The driver's endpoint for direct-plane runs, started once. */
  private directServer(): Promise<DirectServer> {
    this.server ??= (async () => {
      const o = this.directOptions;
      const { local } = await this.workersHere();
      return DirectServer.start({
        listen: o.listen ?? (local ? '127.0.0.1:0' : '0.0.0.0:0'),
        ...(o.advertise ? { advertise: o.advertise } : {}),
        ...(o.tls ? { tls: o.tls } : {}),
        ...(o.stallTimeoutMs !== undefined ? { stallTimeoutMs: o.stallTimeoutMs } : {}),
        ...(o.readInPlace === false ? { readInPlace: false } : {}),
        logger: this.logger,
      });
    })();
    this.server.catch(() => (this.server = null));
    return this.server;
  }

  /**
   * Whether there are live workers and every one runs on this host (`local`), and also sees the
   * /dev/shm this driver sees (`shm`: the shm plane's files); one read of the worker list.
   */
  private async workersHere(): Promise<{ local: boolean; shm: boolean }> {
    const workers = await listWorkers(this.redis, this.keys);
    const here = shmIdentity();
    const local = workers.length > 0 && workers.every((w) => w.host === hostname());
    return { local, shm: local && here !== '' && workers.every((w) => w.shmId === here) };
  }

  /**
   * `auto`: direct when the workers can reach the driver. Workers on this host always can (loopback);
   * otherwise the live workers are asked to reach the endpoint (they answer from their heartbeat) and
   * direct is chosen only if every one did.
   */
  private async choosePlane(
    requested: DataPlaneChoice,
    logger: Logger,
    localPlane: 'direct' | 'shm' = 'direct',
  ): Promise<{ plane: DataPlaneKind; why: string }> {
    if (requested !== 'auto' && !(DATA_PLANES as readonly string[]).includes(requested))
      throw new Error(
        `dataPlane: must be one of ${[...DATA_PLANES, 'auto'].join(', ')}, got ${JSON.stringify(requested)}`,
      );
    if (requested !== 'auto') {
      // A direct run serves from the start; its endpoint must be up before the run is registered.
      if (requested === 'direct') await this.directServer();
      return { plane: requested, why: 'requested' };
    }
    // Workers on this host reach a loopback endpoint; an address the user gave is verified instead.
    const here = this.directOptions.advertise ? null : await this.workersHere();
    if (here?.local) {
      if (localPlane === 'shm' && here.shm)
        return {
          plane: 'shm',
          why: "auto: every live worker shares this host's /dev/shm; tensors in place there",
        };
      const server = await this.directServer();
      return { plane: 'direct', why: `auto: every live worker runs on this host; serving at ${server.url}` };
    }
    const server = await this.directServer();
    const timeout = this.directOptions.probeTimeoutMs ?? 5000;
    logger.info(
      { endpoint: server.url },
      'auto data plane: asking the workers whether they reach the driver',
    );
    const { workers, answers } = await probeWorkers(this.redis, this.keys, server.url, timeout);
    const answered = workers.filter((w) => answers[w.id]);
    if (!answered.length)
      return {
        plane: 'redis',
        why: `auto: no live worker answered within ${timeout / 1000} s whether it reaches ${server.url}; pass --data-plane direct to use it anyway`,
      };
    const refused = answered.filter((w) => answers[w.id] !== 'ok');
    if (refused.length)
      return {
        plane: 'redis',
        why: `auto: ${refused.map((w) => `worker ${w.id} (${w.host}) cannot reach ${server.url}: ${answers[w.id]}`).join('; ')}; set --listen/--advertise to an address they reach`,
      };
    return { plane: 'direct', why: `auto: all ${answered.length} live workers reach ${server.url}` };
  }

  private async defaultWindow(): Promise<number> {
    const workers = await listWorkers(this.redis, this.keys);
    const slots = workers.reduce((n, w) => n + (w.concurrency || 1), 0);
    // Enough to keep every worker slot busy while results wait for the collector; bounded for memory.
    return Math.min(64, Math.max(8, 4 * slots));
  }
}
