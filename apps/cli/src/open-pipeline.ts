import { Pipeline } from '@cnsn/pipeline';
import type { ResolvedRedis } from '@cnsn/infra';
import { CliError } from './cli-error.js';
import type { RunFlags } from './commands/run.js';
import { LocalWorkers } from './local-workers.js';
import { isVerbose, stderrLogger } from './stderr-logger.js';

/** What a command holds open to drive runs: the pipeline, and its local workers when it has some. */
export interface OpenedPipeline {
  pipeline: Pipeline;
  workers: LocalWorkers | null;
}

/** `--tls-cert` and `--tls-key` come together or not at all. */
export function checkTlsFlags(flags: Pick<RunFlags, 'tlsCert' | 'tlsKey'>): void {
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey))
    throw new CliError('--tls-cert and --tls-key go together');
}

/**
 * The driver's pipeline as the run flags say (Redis, prefix, queue, the direct plane's listen,
 * advertise and TLS), and `workerCount` local workers, ready (warm) before it returns. `hold` gets
 * each part as soon as it exists, so that the caller can close what opened when a later step fails.
 */
export async function openPipeline(
  flags: RunFlags,
  redis: ResolvedRedis,
  workerCount: number,
  hold: (part: Partial<OpenedPipeline>) => void,
): Promise<OpenedPipeline> {
  const listen = flags.listen ?? (workerCount > 0 ? '127.0.0.1:0' : undefined);
  const pipeline = await Pipeline.connect({
    redis: redis.url,
    prefix: flags.prefix,
    queue: flags.queue,
    connectTimeoutMs: (flags.connectTimeout ?? 30) * 1000,
    logger: stderrLogger(isVerbose()),
    direct: {
      ...(listen ? { listen } : {}),
      ...(flags.advertise ? { advertise: flags.advertise } : {}),
      ...(flags.tlsCert && flags.tlsKey ? { tls: { certFile: flags.tlsCert, keyFile: flags.tlsKey } } : {}),
    },
  });
  hold({ pipeline });
  if (workerCount === 0) return { pipeline, workers: null };
  const workers = LocalWorkers.start({
    count: workerCount,
    redisUrl: redis.url,
    backend: flags.backend,
    prefix: flags.prefix,
    queue: flags.queue,
    tag: String(process.pid),
  });
  hold({ workers });
  await workers.ready(pipeline);
  return { pipeline, workers };
}
