import { redactUrl } from '@cnsn/pipeline';
import { Command } from 'commander';
import { describeRun } from '../gateway/run-description.js';
import { GatewayServer } from '../gateway/gateway-server.js';
import { checkTlsFlags, openPipeline, type OpenedPipeline } from '../open-pipeline.js';
import { resolveRedis } from '../redis-target.js';
import { addRunOptions, type RunFlags } from './run.js';

interface GatewayFlags extends RunFlags {
  socket: string;
  clientRun?: boolean;
}

/**
 * `cnsn gateway`: the Python client's driver (docs/python.md). It takes the run command's flags (the
 * pipeline's: Redis, workers, planes; with batches given, the whole run, described back to the
 * client), serves runs on a Unix socket, and prints one JSON line on stdout once ready. It stops
 * when its stdin closes (its client is gone, however it went), on SIGTERM or SIGINT.
 */
export function gatewayCommand(): Command {
  const cmd = new Command('gateway').description(
    'serve runs to the Python client on a Unix socket (started by the client itself)',
  );
  addRunOptions(cmd);
  cmd
    .requiredOption('--socket <path>', 'the Unix socket to listen on')
    .option(
      '--client-run',
      'the client runs the batches these flags give (`python3 -m cnsn run`): check and describe them',
    );
  return cmd.action(async (flags: GatewayFlags) => {
    await serve(flags);
  });
}

async function serve(flags: GatewayFlags): Promise<void> {
  const run = await describeRun(flags, flags.clientRun ?? false);
  checkTlsFlags(flags); // also without a run: the pipeline's endpoint is the gateway's
  const redis = await resolveRedis(flags.privateRedis ? undefined : flags.redis, flags.privateRedis ?? false);
  const held: Partial<OpenedPipeline> = {};
  let server: GatewayServer | null = null;
  try {
    const workerCount = flags.workersLocal ?? (redis.local ? 2 : 0);
    const { pipeline, workers } = await openPipeline(flags, redis, workerCount, (part) =>
      Object.assign(held, part),
    );
    const info = {
      gateway: {
        pid: process.pid,
        socket: flags.socket,
        redis: redactUrl(redis.url),
        private_redis: redis.local !== null,
        workers: workers?.ids ?? [],
        node: process.version,
      },
      run,
    };
    server = new GatewayServer(pipeline, info, workers?.ids ?? []);
    await server.listen(flags.socket);
    process.stdout.write(`${JSON.stringify(info)}\n`);
    await stopRequested();
  } finally {
    await server?.close().catch(() => undefined);
    await held.workers?.stop();
    await held.pipeline?.close().catch(() => undefined);
    await redis.dispose();
  }
}

/** Resolves when the client is gone (stdin closed) or the gateway is told to stop. */
function stopRequested(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.stdin.on('end', resolve);
    process.stdin.on('close', resolve);
    process.stdin.on('error', resolve);
    process.stdin.resume();
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
}
