import { Pipeline, type PipelineStatus, redactUrl } from '@cnsn/pipeline';
import { DEFAULT_PREFIX, DEFAULT_QUEUE } from '@cnsn/protocol';
import { Command } from 'commander';
import { resolveRedis } from '../redis-target.js';

interface StatusFlags {
  redis?: string;
  prefix: string;
  queue: string;
  json?: boolean;
}

/** `cnsn status`: queue depths, runs in flight, live workers and their backends, throughput, failures. */
export function statusCommand(): Command {
  return new Command('status')
    .description('queue depths, runs, live workers with their backends, recent throughput and failures')
    .option('--redis <url>', 'Redis URL (default REDIS_URL)')
    .option('--prefix <prefix>', 'Redis key prefix with a hash tag', DEFAULT_PREFIX)
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--json', 'print the status as one JSON object')
    .action(async (flags: StatusFlags) => {
      const redis = await resolveRedis(flags.redis);
      if (redis.local) process.stderr.write('no --redis or REDIS_URL: showing a new private Redis (empty)\n');
      const pipeline = await Pipeline.connect({ redis: redis.url, prefix: flags.prefix, queue: flags.queue });
      try {
        const status = await pipeline.status();
        if (flags.json) process.stdout.write(`${JSON.stringify(status)}\n`);
        else process.stdout.write(formatStatus(status, redactUrl(redis.url)));
      } finally {
        await pipeline.close();
        await redis.dispose();
      }
    });
}

export function formatStatus(s: PipelineStatus, where: string): string {
  const lines: string[] = [];
  const j = s.jobs;
  lines.push(
    `queue ${s.queue} on ${where}: ${j.waiting ?? 0} waiting, ${j.active ?? 0} active, ${j.delayed ?? 0} delayed, ${j.completed ?? 0} completed, ${j.failed ?? 0} failed`,
  );
  const mem = s.redis.maxMemory
    ? `${mb(s.redis.usedMemory)} of ${mb(s.redis.maxMemory)}`
    : `${mb(s.redis.usedMemory)} (no maxmemory)`;
  lines.push(
    `redis memory ${mem}, policy ${s.redis.policy ?? 'unknown'}${s.redis.policy && s.redis.policy !== 'noeviction' ? '  WARNING: should be noeviction' : ''}`,
  );
  lines.push(`runs (${s.runs.length}):`);
  for (const r of s.runs) {
    const c = r.counters;
    lines.push(
      `  ${r.run}  ${c.state}  plane ${r.dataPlane}${c.endpoint ? ` (${c.endpoint})` : ''}  enqueued ${c.enqueued}  delivered ${c.delivered}${c.total !== null ? `/${c.total}` : ''}  in flight ${r.inFlight}  waiting in order ${r.reorderBuffer}  failed ${c.failed}  skipped ${c.skipped}  ${r.batchesPerSec.toFixed(1)} batches/s  tensors in ${mb(c.bytesIn)}, out ${mb(c.bytesOut)}${consumerText(c.consumer)}`,
    );
  }
  lines.push(`workers (${s.workers.length}):`);
  for (const w of s.workers) {
    lines.push(
      `  ${w.id}  ${w.host}${w.address ? ` (${w.address})` : ''} pid ${w.pid}  ${w.state}  ${w.backendDetail}${w.adapter ? `  [${w.adapter}]` : ''}  x${w.concurrency}  ${w.batches} batches  ${w.failed} failed  ${w.recentKernelMs.toFixed(1)} ms/batch (kernel)  rss ${(w.rssBytes / 2 ** 20).toFixed(0)} MiB, heap ${(w.heapUsedBytes / 2 ** 20).toFixed(0)} MiB, ${w.runsHeld} runs held`,
    );
  }
  if (s.recentFailures.length) {
    lines.push('recent failures:');
    for (const f of s.recentFailures.slice(0, 10)) lines.push(`  run ${f.run} batch ${f.seq}: ${f.reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Is the trainer input-bound? Its wait for each batch against its time holding one. */
function consumerText(f: PipelineStatus['runs'][number]['counters']['consumer']): string {
  if (!f || !f.batches) return '';
  const waited = f.waitMs / Math.max(f.waitMs + f.holdMs, 1e-9);
  return `  consumer waited ${(100 * waited).toFixed(1)}% (${(f.waitMs / f.batches).toFixed(1)} ms a batch, held ${(f.holdMs / f.batches).toFixed(1)} ms)`;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
