// The `worker` command: a long-running augmentation worker for GPU or CPU nodes (main.ts runs it).
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { resolveRedis } from '@cnsn/infra';
import { BACKEND_ALIASES, BACKEND_NAMES, type BackendName, createBackend } from '@cnsn/kernels';
import { connectRedis, redactUrl, WorkerRuntime, type WorkerRuntimeOptions } from '@cnsn/pipeline';
import { DEFAULT_PREFIX, DEFAULT_QUEUE } from '@cnsn/protocol';
import { Command, InvalidArgumentError, Option } from 'commander';
import { pino } from 'pino';
import { AugmentProcessor } from './augment-processor.js';

interface WorkerFlags {
  redis?: string;
  backend: BackendName;
  concurrency: number;
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
    .option('--concurrency <n>', 'batches processed at once', positiveInt, 1)
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
    .action(async (flags: WorkerFlags) => {
      const id = flags.id ?? `${hostname()}-${process.pid}`;
      const root = pino({ level: flags.logLevel, base: null }, pino.destination(2));
      // The runtime adds the worker id to its own lines; this one is for the lines of start-up.
      const logger = root.child({ worker: id });
      // CLI.md: without --redis and REDIS_URL, a private server (only useful to drivers on this machine).
      let resolved;
      try {
        resolved = await resolveRedis(flags.redis);
      } catch (err) {
        logger.error({}, (err as Error).message);
        process.exitCode = 2;
        return;
      }
      const { url, local } = resolved;
      if (local) {
        logger.warn(
          { redis: url },
          `no --redis or REDIS_URL: started a private redis-server; drivers on this machine can use --redis ${url}`,
        );
      }
      let created;
      try {
        created = await createBackend(flags.backend);
      } catch (err) {
        logger.error({ backend: flags.backend }, (err as Error).message);
        process.exitCode = 1;
        return;
      }
      logger.info(
        { backend: created.backend.name, detail: created.backend.description },
        `backend ${created.backend.name}: ${created.reason}`,
      );
      let redis;
      try {
        redis = await connectRedis({ url }, `cnsn-worker-${process.pid}`, {
          connectTimeoutMs: flags.connectTimeout * 1000,
          logger,
        });
      } catch (err) {
        logger.error({}, (err as Error).message);
        process.exitCode = 1;
        return;
      }
      logger.info({ redis: redactUrl(url) }, 'connected to Redis');
      const runtime = new WorkerRuntime(
        customize({
          redis,
          processor: new AugmentProcessor(created),
          prefix: flags.prefix,
          queue: flags.queue,
          concurrency: flags.concurrency,
          stopTimeoutMs: STOP_TIMEOUT_MS,
          logger: root,
          id,
        }),
      );
      const shutdown = (signal: string): void => {
        logger.info({ signal }, 'signal received');
        // The runtime bounds its own stop (STOP_TIMEOUT_MS with batches in hand); this is the last
        // guard, so that a supervisor's SIGTERM or a person's Ctrl-C always ends the process.
        setTimeout(() => {
          logger.error({ step: runtime.stoppingStep }, 'stop did not finish in time; exiting');
          process.exit(1);
        }, STOP_TIMEOUT_MS + 10_000).unref();
        void runtime
          .stop()
          .then(async () => {
            redis.disconnect();
            await local?.dispose();
            process.exitCode = 0;
            // Reconnect timers of a Redis that is gone must not keep the process alive.
            setTimeout(() => process.exit(0), 1000).unref();
          })
          .catch((err: Error) => {
            logger.error({ err: err.message }, 'shutdown failed');
            process.exit(1);
          });
      };
      const healthFile = flags.healthFile ?? process.env.CNSN_HEALTH_FILE;
      if (healthFile)
        runtime.on('heartbeat', (at) => {
          void writeFile(healthFile, `${new Date(at).toISOString()}\n`).catch((err: Error) =>
            logger.warn({ file: healthFile, err: err.message }, 'cannot write the health file'),
          );
        });
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
      await runtime.start();
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
