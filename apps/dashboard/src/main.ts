#!/usr/bin/env node
// npm run dashboard: bull-board, the pipeline's own live page and /metrics.
import { resolveRedis } from '@cnsn/infra';
import { Pipeline, redactUrl } from '@cnsn/pipeline';
import { DEFAULT_PREFIX, DEFAULT_QUEUE } from '@cnsn/protocol';
import { Command, InvalidArgumentError } from 'commander';
import { Dashboard } from './server.js';

interface Flags {
  redis?: string;
  port: number;
  host: string;
  prefix: string;
  queue: string;
  readOnly?: boolean;
}

await new Command('dashboard')
  .description('web dashboard of the pipeline: runs, workers, failures, bull-board, Prometheus /metrics')
  .option('--redis <url>', 'Redis URL (default REDIS_URL)')
  .option(
    '--port <p>',
    'port',
    (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535)
        throw new InvalidArgumentError(`expected a port number, got "${v}"`);
      return n;
    },
    3030,
  )
  .option('--host <h>', 'address to bind (a token is required off loopback)', '127.0.0.1')
  .option('--prefix <prefix>', 'Redis key prefix with a hash tag', DEFAULT_PREFIX)
  .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
  .option('--read-only', 'show only: no retries, no queue actions')
  .action(async (flags: Flags) => {
    // docs/cli.md: without --redis and REDIS_URL, a private server (an empty pipeline to look at).
    let resolved;
    try {
      resolved = await resolveRedis(flags.redis);
    } catch (err) {
      process.stderr.write(`dashboard: ${(err as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
    const { url, local: privateRedis } = resolved;
    if (privateRedis)
      process.stderr.write(`dashboard: no --redis or REDIS_URL: started a private redis-server at ${url}\n`);
    let pipeline: Pipeline | null = null;
    try {
      pipeline = await Pipeline.connect({ redis: url, prefix: flags.prefix, queue: flags.queue });
      const started = pipeline;
      const dashboard = await Dashboard.start({
        pipeline,
        host: flags.host,
        port: flags.port,
        readOnly: flags.readOnly ?? false,
      });
      process.stderr.write(
        `dashboard on ${dashboard.url} (Redis ${redactUrl(url)}, queue ${flags.queue}${flags.readOnly ? ', read-only' : ''}); Ctrl-C stops it\n`,
      );
      const stop = (): void => {
        void dashboard
          .close()
          .then(() => started.close())
          .then(() => privateRedis?.dispose());
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    } catch (err) {
      process.stderr.write(`dashboard: ${(err as Error).message}\n`);
      process.exitCode = 1;
      await pipeline?.close();
      await privateRedis?.dispose();
    }
  })
  .parseAsync(process.argv);
