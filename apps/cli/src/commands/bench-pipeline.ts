import { measureRedisThroughput } from '@cnsn/pipeline';
import { Command } from 'commander';
import { Redis } from 'ioredis';
import { processCpuSeconds, redisCpuSeconds, redisNetBytes } from '../bench/cpu-usage.js';
import { warmUp } from '../bench/warm-up.js';
import { iperf3Limit, redisBenchmarkLimit, type TransportLimit } from '../bench/transport-limits.js';
import { parsePositiveInt } from '../parse-options.js';
import { DEFAULT_DATALOADER_BENCH, runReferenceScript } from '../reference-scripts.js';
import { addRunOptions, executeRun, type RunContext, type RunFlags } from './run.js';

interface BenchPipelineFlags extends RunFlags {
  redisIters: number;
  baselineDataloader?: string | true;
  limit: boolean;
}

interface Snapshot {
  at: number;
  driverCpu: number;
  driverSys: number;
  workersCpu: number | null;
  redisCpu: number;
  redisBytes: number;
}

/**
 * `cnsn bench pipeline`: a synthetic run end to end (64x512x7x7 x60 by default) on either data
 * plane, and in the same invocation the figures to judge it by: Redis bytes per batch (INFO stats),
 * CPU per batch of the driver, the local workers and Redis, the transport's own limit measured by an
 * independent tool (iperf3 for the direct plane, redis-benchmark for the redis plane, where
 * installed), and optionally the paper's code in a PyTorch DataLoader.
 */
export function benchPipelineCommand(): Command {
  const cmd = new Command('pipeline').description(
    'end-to-end throughput on a data plane, with Redis bytes, CPU per batch, the transport limit and the DataLoader baseline',
  );
  addRunOptions(cmd);
  cmd
    .option(
      '--redis-iters <n>',
      'SET/GET pairs timed for the blob connection vs ioredis (redis plane)',
      parsePositiveInt,
      20,
    )
    .option('--no-limit', 'skip the transport limit (iperf3 / redis-benchmark)')
    .option(
      '--baseline-dataloader [script]',
      `also run the paper's code in a PyTorch DataLoader with 2 workers (default ${DEFAULT_DATALOADER_BENCH})`,
    );
  return cmd.action(benchPipeline);
}

/** A bench makes its synthetic batches before the clock up to this many bytes. */
export const BENCH_EAGER_BYTES = 4 * 2 ** 30;

type RedisVsIoredis = Awaited<ReturnType<typeof measureRedisThroughput>>;

/** What the run's hooks measured: CPU and Redis bytes before and after, the transport's limit. */
interface Measured {
  snaps: Snapshot[];
  plane: string;
  limit: TransportLimit | null;
  blobVsIoredis: RedisVsIoredis | null;
}

async function benchPipeline(flags: BenchPipelineFlags): Promise<void> {
  const shape = flags.shape ?? [64, 512, 7, 7];
  const batches = flags.batches ?? 60;
  const bytes = shape.reduce((a, b) => a * b, 1) * 4;
  const run: RunFlags = { ...flags, synthetic: true, shape, batches, json: false };
  const measured: Measured = { snaps: [], plane: '', limit: null, blobVsIoredis: null };
  const summary = await executeRun(run, {
    before: async (ctx) => {
      // A fresh pool first loads its scripts (once per connection): not what a batch costs.
      await warmUp(ctx.pipeline, ctx.run.dataPlane, ctx.workerIds);
      measured.snaps.push(await snapshot(ctx));
      measured.plane = ctx.run.dataPlane;
    },
    after: async (ctx) => {
      measured.snaps.push(await snapshot(ctx));
      // The transport's own limit, right after the run, on the same machine and server.
      // The shm plane has no transport to measure: its files are memory.
      if (flags.limit === false || ctx.run.dataPlane === 'shm') return;
      measured.limit =
        ctx.run.dataPlane === 'direct' ? await iperf3Limit() : await redisBenchmarkLimit(ctx.redisUrl, bytes);
      if (ctx.run.dataPlane === 'redis')
        measured.blobVsIoredis = await measureRedisThroughput({ url: ctx.redisUrl }, bytes, flags.redisIters);
    },
    // The digest (not timed, docs/cli.md) is computed after the clock stops when the outputs fit in 2 GiB.
    deferDigestBytes: 2 ** 31,
    // Every batch made before the clock (as the Python client's bench does), up to 4 GiB.
    eagerBytes: BENCH_EAGER_BYTES,
  });
  const result = figures(summary, measured, shape, batches);
  reportLimits(result, summary, measured, flags.limit !== false);
  if (flags.baselineDataloader) await baseline(result, summary, flags.baselineDataloader, shape, batches);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** CPU of the driver, the local workers and Redis, and Redis's network bytes, now. */
async function snapshot(ctx: RunContext): Promise<Snapshot> {
  const client = new Redis(ctx.redisUrl, { lazyConnect: true });
  await client.connect();
  const [cpu, stats] = [await client.info('cpu'), await client.info('stats')];
  client.disconnect();
  const workers = ctx.workerPids.map(processCpuSeconds);
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    driverCpu: (usage.user + usage.system) / 1e6,
    driverSys: usage.system / 1e6,
    workersCpu:
      workers.length && workers.every((w) => w !== null)
        ? workers.reduce((a, b) => (a ?? 0) + (b ?? 0), 0)
        : null,
    redisCpu: redisCpuSeconds(cpu),
    redisBytes: redisNetBytes(stats),
  };
}

const log = (line: string): boolean => process.stderr.write(`${line}\n`);

/** The run's figures per batch, said on stderr too. */
function figures(
  summary: Awaited<ReturnType<typeof executeRun>>,
  measured: Measured,
  shape: readonly number[],
  batches: number,
): Record<string, unknown> {
  const [a, b] = measured.snaps as [Snapshot, Snapshot];
  const perBatch = (x: number): number => round((x * 1000) / batches);
  const result: Record<string, unknown> = {
    dataPlane: summary.dataPlane,
    wire: summary.wire,
    batches,
    shape,
    gbPerSec: summary.gbPerSec,
    msPerBatch: round((summary.seconds * 1000) / batches),
    redisBytesPerBatch: Math.round((b.redisBytes - a.redisBytes) / batches),
    driverCpuMsPerBatch: perBatch(b.driverCpu - a.driverCpu),
    driverSysMsPerBatch: perBatch(b.driverSys - a.driverSys),
    ...(a.workersCpu !== null && b.workersCpu !== null
      ? { workersCpuMsPerBatch: perBatch(b.workersCpu - a.workersCpu) }
      : {}),
    redisCpuMsPerBatch: perBatch(b.redisCpu - a.redisCpu),
    digest: summary.digest,
  };
  log(
    `${measured.plane} plane, wire ${summary.wire}: ${summary.gbPerSec.toFixed(3)} GB/s, ${result.msPerBatch} ms a batch; Redis moved ${((result.redisBytesPerBatch as number) / 1024).toFixed(1)} KiB a batch (INFO stats)`,
  );
  log(
    `CPU a batch: driver ${result.driverCpuMsPerBatch} ms${result.workersCpuMsPerBatch !== undefined ? `, local workers ${result.workersCpuMsPerBatch} ms` : ''}, Redis ${result.redisCpuMsPerBatch} ms`,
  );
  return result;
}

/** The transport's own limit beside the run, and the blob connection beside ioredis (redis plane). */
function reportLimits(
  result: Record<string, unknown>,
  summary: Awaited<ReturnType<typeof executeRun>>,
  measured: Measured,
  wanted: boolean,
): void {
  const { limit: l, blobVsIoredis: t, plane } = measured;
  if (l) {
    result.transportLimitGbPerSec = round(l.gbPerSec);
    result.transportLimitTool = l.tool;
    result.fractionOfTransportLimit = round(summary.gbPerSec / l.gbPerSec);
    log(
      `transport limit: ${l.gbPerSec.toFixed(3)} GB/s (${l.detail}); the pipeline ran at ${((100 * summary.gbPerSec) / l.gbPerSec).toFixed(0)}% of it`,
    );
  } else if (wanted && plane === 'shm') {
    log('transport limit: none on the shm plane (its files are memory)');
  } else if (wanted) {
    log(
      `transport limit not measured: ${plane === 'direct' ? 'iperf3' : 'redis-benchmark'} is not installed or could not run (apt-get install ${plane === 'direct' ? 'iperf3' : 'redis-tools'})`,
    );
  }
  if (!t) return;
  Object.assign(result, {
    blobSetMs: round(t.setMs),
    blobGetMs: round(t.getMs),
    ioredisSetMs: round(t.ioredisSetMs),
    ioredisGetMs: round(t.ioredisGetMs),
  });
  log(
    `blob connection vs plain ioredis, same server, same minute: SET ${t.setMs.toFixed(2)} vs ${t.ioredisSetMs.toFixed(2)} ms, GET ${t.getMs.toFixed(2)} vs ${t.ioredisGetMs.toFixed(2)} ms`,
  );
}

/** The paper's code in a PyTorch DataLoader on the same shape, right after the run. */
async function baseline(
  result: Record<string, unknown>,
  summary: Awaited<ReturnType<typeof executeRun>>,
  given: string | true,
  shape: readonly number[],
  batches: number,
): Promise<void> {
  const script = given === true ? DEFAULT_DATALOADER_BENCH : given;
  const line =
    (await runReferenceScript(script, [shape.join(','), String(batches), '2'])).trim().split('\n').pop() ??
    '';
  const gb = Number(/([\d.]+) GB\/s/.exec(line)?.[1]);
  log(`baseline: ${line}`);
  result.dataloaderGbPerSec = gb;
  result.speedupVsDataloader = round(summary.gbPerSec / gb);
  log(`pipeline / DataLoader: ${(summary.gbPerSec / gb).toFixed(2)}x`);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
