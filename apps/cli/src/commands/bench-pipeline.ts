import { measureRedisThroughput, type RedisThroughput } from '@cnsn/pipeline';
import { Command } from 'commander';
import { parsePositiveInt } from '../parse-options.js';
import { DEFAULT_DATALOADER_BENCH, runReferenceScript } from '../reference-scripts.js';
import { addRunOptions, executeRun, type RunFlags } from './run.js';

interface BenchPipelineFlags extends RunFlags {
  redisIters: number;
  baselineDataloader?: string | true;
}

/**
 * `cnsn bench pipeline`: a synthetic run end to end (`cnsn run`'s defaults: 60 batches of
 * 64x512x7x7), then, on the same Redis, its large-value throughput: the pipeline as a fraction of
 * what four crossings per batch allow; optionally the paper's code in a PyTorch DataLoader.
 */
export function benchPipelineCommand(): Command {
  const cmd = new Command('pipeline').description(
    'end-to-end throughput against the Redis limit and the PyTorch DataLoader baseline',
  );
  addRunOptions(cmd);
  cmd
    .option('--redis-iters <n>', 'SET/GET pairs timed for the Redis limit (median)', parsePositiveInt, 40)
    .option(
      '--baseline-dataloader [script]',
      `also run the paper's code in a PyTorch DataLoader with 2 workers (default ${DEFAULT_DATALOADER_BENCH})`,
    );
  return cmd.action(async (flags: BenchPipelineFlags) => {
    const shape = flags.shape ?? [64, 512, 7, 7];
    const batches = flags.batches ?? 60;
    const run: RunFlags = { ...flags, synthetic: true, shape, batches, json: false };
    // The Redis limit is timed just before and just after the run, on the same server: this shared
    // machine's noise moves it, and the two together bracket the run.
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    const timings: RedisThroughput[] = [];
    const time = async (url: string): Promise<void> => {
      timings.push(await measureRedisThroughput({ url }, bytes, flags.redisIters));
    };
    const summary = await executeRun(run, { before: time, after: time });
    const redis: RedisThroughput | null = timings.length
      ? {
          bytes,
          setMs: timings.reduce((n, t) => n + t.setMs, 0) / timings.length,
          getMs: timings.reduce((n, t) => n + t.getMs, 0) / timings.length,
          ioredisSetMs: timings.reduce((n, t) => n + t.ioredisSetMs, 0) / timings.length,
          ioredisGetMs: timings.reduce((n, t) => n + t.ioredisGetMs, 0) / timings.length,
          limitGbPerSec: 0,
        }
      : null;
    if (redis) redis.limitGbPerSec = bytes / (2 * redis.setMs + 2 * redis.getMs) / 1e6;
    const result: Record<string, unknown> = {
      batches,
      shape,
      msPerBatch: round((summary.seconds * 1000) / batches),
      gbPerSec: summary.gbPerSec,
      digest: summary.digest,
    };
    const r = redis;
    if (r) {
      result.redisSetMs = round(r.setMs);
      result.redisGetMs = round(r.getMs);
      result.ioredisSetMs = round(r.ioredisSetMs);
      result.ioredisGetMs = round(r.ioredisGetMs);
      result.redisLimitGbPerSec = round(r.limitGbPerSec);
      result.fractionOfRedisLimit = round(summary.gbPerSec / r.limitGbPerSec);
      process.stderr.write(
        `pipeline ${summary.gbPerSec.toFixed(3)} GB/s; Redis SET ${r.setMs.toFixed(2)} ms, GET ${r.getMs.toFixed(2)} ms per batch => limit ${r.limitGbPerSec.toFixed(3)} GB/s (4 crossings); ${(100 * (summary.gbPerSec / r.limitGbPerSec)).toFixed(0)}% of it\n` +
          `blob connection vs plain ioredis, same server, same minute: SET ${r.setMs.toFixed(2)} vs ${r.ioredisSetMs.toFixed(2)} ms, GET ${r.getMs.toFixed(2)} vs ${r.ioredisGetMs.toFixed(2)} ms\n`,
      );
    }
    if (flags.baselineDataloader) {
      const script = flags.baselineDataloader === true ? DEFAULT_DATALOADER_BENCH : flags.baselineDataloader;
      const line =
        (await runReferenceScript(script, [shape.join(','), String(batches), '2']))
          .trim()
          .split('\n')
          .pop() ?? '';
      const gb = Number(/([\d.]+) GB\/s/.exec(line)?.[1]);
      process.stderr.write(`baseline: ${line}\n`);
      result.dataloaderGbPerSec = gb;
      result.speedupVsDataloader = round(summary.gbPerSec / gb);
      process.stderr.write(`pipeline / DataLoader: ${(summary.gbPerSec / gb).toFixed(2)}x\n`);
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  });
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
