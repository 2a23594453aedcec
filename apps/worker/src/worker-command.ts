// The `worker` command: a long-running augmentation worker for GPU or CPU nodes (main.ts runs it).
import { writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolveRedis } from '@cnsn/infra';
import { BACKEND_ALIASES, BACKEND_NAMES, type BackendName, createBackend } from '@cnsn/kernels';
import {
  connectRedis,
  type Logger,
  redactUrl,
  WorkerRuntime,
  type WorkerRuntimeOptions,
} from '@cnsn/pipeline';
import { DEFAULT_PREFIX, DEFAULT_QUEUE } from '@cnsn/protocol';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { AugmentProcessor } from './augment-processor.js';

interface WorkerFlags {
  redis?: string;
  backend: BackendName;
  concurrency?: number;
  queue: string;
  prefix: string;
  id?: string;
  logLevel: string;
  connectTimeout: number;
  healthFile?: string;
}

/**
 * The `worker` command. `customize` adjusts the runtime's options before it starts (the fault
 * tests' entry wraps the processor and the planes this way; `npm run worker` passes nothing).
 */
export function workerCommand(
  customize: (options: WorkerRuntimeOptions) => WorkerRuntimeOptions = (o) => o,
): Command {
  return new Command('worker')
    .description('take augmentation batches from Redis, apply CrossNorm and SelfNorm, store the results')
    .option('--redis <url>', 'Redis URL (redis:// or rediss://); default REDIS_URL')
    .addOption(
      new Option('--backend <name>', 'kernel backend')
        .choices([...BACKEND_NAMES, ...Object.keys(BACKEND_ALIASES)])
        .default('auto'),
    )
    .option(
      '--concurrency <n>',
      'batches processed at once (default 2 on webgpu, where one batch crosses the bus while the other computes; else 1)',
      positiveInt,
    )
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--prefix <prefix>', 'Redis key prefix with a hash tag', DEFAULT_PREFIX)
    .option('--id <id>', 'worker id (default host-pid)')
    .option(
      '--health-file <path>',
      'touch this file at every heartbeat that reaches Redis (container health checks and readiness probes read its age; default CNSN_HEALTH_FILE)',
    )
    .option(
      '--connect-timeout <s>',
      'seconds a refused or reset first connection to Redis is retried',
      (v) => {
        const n = Number(v);
        if (!/^\d+$/.test(v) || !Number.isSafeInteger(n))
          throw new InvalidArgumentError(`expected a non-negative integer, got "${v}"`);
        return n;
      },
      30,
    )
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .action((flags: WorkerFlags) => runWorker(flags, customize));
}

/** Slots of a webgpu worker by default: the next batch's transfer runs while this one's passes do. */
const GPU_CONCURRENCY = 2;

/** A start-up step failed: said (one line) and the exit status set; the worker does not start. */
class StartFailed extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** Resolves Redis, makes the backend, connects, starts the runtime and its signal handling. */
async function runWorker(
  flags: WorkerFlags,
  customize: (options: WorkerRuntimeOptions) => WorkerRuntimeOptions,
): Promise<void> {
  const id = flags.id ?? `${hostname()}-${process.pid}`;
  const root = pino({ level: flags.logLevel, base: null }, pino.destination(2));
  // The runtime adds the worker id to its own lines; this one is for the lines of start-up.
  const logger = root.child({ worker: id });
  try {
    const { url, local } = await step(() => resolveRedis(flags.redis), 2);
    // docs/cli.md: without --redis and REDIS_URL, a private server (only useful to drivers on this machine).
    if (local)
      logger.warn(
        { redis: url },
        `no --redis or REDIS_URL: started a private redis-server; drivers on this machine can use --redis ${url}`,
      );
    const created = await step(() => createBackend(flags.backend), 1);
    logger.info(
      { backend: created.backend.name, detail: created.backend.description },
      `backend ${created.backend.name}: ${created.reason}`,
    );
    const redis = await step(
      () =>
        connectRedis({ url }, `cnsn-worker-${process.pid}`, {
          connectTimeoutMs: flags.connectTimeout * 1000,
          logger,
        }),
      1,
    );
    logger.info({ redis: redactUrl(url) }, 'connected to Redis');
    const runtime = new WorkerRuntime(
      customize({
        redis,
        processor: new AugmentProcessor(created),
        prefix: flags.prefix,
        queue: flags.queue,
        concurrency: flags.concurrency ?? (created.backend.name === 'webgpu' ? GPU_CONCURRENCY : 1),
        stopTimeoutMs: STOP_TIMEOUT_MS,
        logger: root,
        id,
      }),
    );
    writeHealthFile(runtime, flags.healthFile ?? process.env.CNSN_HEALTH_FILE, logger);
    const shutdown = stopOnSignal(runtime, logger, async () => {
      redis.disconnect();
      await local?.dispose();
    });
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    await runtime.start();
  } catch (err) {
    if (!(err instanceof StartFailed)) throw err;
    logger.error({ backend: flags.backend }, err.message);
    process.exitCode = err.exitCode;
  }
}

async function step<T>(work: () => Promise<T>, exitCode: number): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw new StartFailed((err as Error).message, exitCode);
  }
}

/**
 * SIGTERM and SIGINT: the runtime's bounded stop (STOP_TIMEOUT_MS with batches in hand), then exit
 * 0; and a last guard, so that a supervisor's SIGTERM or a person's Ctrl-C always ends the process.
 */
function stopOnSignal(
  runtime: WorkerRuntime,
  logger: Logger,
  release: () => Promise<void>,
): (signal: string) => void {
  return (signal) => {
    logger.info({ signal }, 'signal received');
    setTimeout(() => {
      // Written at once (the logger buffers, and exit drops its buffer).
      writeSync(
        2,
        `${JSON.stringify({ level: 50, step: runtime.stoppingStep, msg: 'stop did not finish in time; exiting' })}\n`,
      );
      process.exit(1);
    }, STOP_TIMEOUT_MS + 10_000).unref();
    void runtime
      .stop()
      .then(async () => {
        await release();
        process.exitCode = 0;
        // Reconnect timers of a Redis that is gone must not keep the process alive.
        setTimeout(() => process.exit(0), 1000).unref();
      })
      .catch((err: Error) => {
        writeSync(2, `${JSON.stringify({ level: 50, err: err.message, msg: 'shutdown failed' })}\n`);
        process.exit(1);
      });
  };
}

/** Touches the health file at every heartbeat that reached Redis (container probes read its age). */
function writeHealthFile(runtime: WorkerRuntime, file: string | undefined, logger: Logger): void {
  if (!file) return;
  runtime.on('heartbeat', (at) => {
    void writeFile(file, `${new Date(at).toISOString()}\n`).catch((err: Error) =>
      logger.warn({ file, err: err.message }, 'cannot write the health file'),
    );
  });
}

/** How long a stop waits for the batches in hand (see WorkerRuntimeOptions.stopTimeoutMs). */
const STOP_TIMEOUT_MS = 10_000;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}
