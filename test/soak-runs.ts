// npm run soak -- --runs N: a long-lived pool. Two workers serve N short runs (a few batches each,
// shapes varying, both planes), a share of them from driver processes SIGKILLed mid-run and then
// resumed to completion. Prints each worker's RSS, heap and open descriptors after the first 100
// runs and after the last (both measured idle, heap after a full collection), and what is left in
// Redis; exits 0 only when the bounds hold and every run delivered every batch in order.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { LocalRedis } from '@cnsn/infra';
import type { Shape4 } from '@cnsn/kernels';
import { listWorkers, Pipeline, type PipelineRun, type WorkerInfo } from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { testBatch } from './support/batches.js';
import { REPO_ROOT } from './support/paths.js';
import { scanKeys } from './support/redis-keys.js';
import { waitUntil } from './support/wait.js';
import { WorkerProcess } from './support/workers.js';

export interface RunsSoakOptions {
  runs: number;
  /** Every this-many-th run is driven by a `cnsn run` process SIGKILLed mid-run, then resumed. */
  killEvery: number;
  /** Runs after which the first memory sample is taken. @defaultValue 100 */
  baselineAfter?: number;
  log: (line: string) => void;
}

/** One worker's figures, idle. */
export interface WorkerSample {
  id: string;
  rssBytes: number;
  heapUsedBytes: number;
  fds: number;
  runsHeld: number;
}

export interface RunsSoakReport {
  runs: number;
  killedDrivers: number;
  batches: number;
  /** Runs that did not deliver every batch once, in order (or whose driver kill missed its moment). */
  badRuns: number;
  baseline: WorkerSample[];
  final: WorkerSample[];
  /** Keys left besides BullMQ's own, worker heartbeats and finished runs' records (which expire). */
  strayKeys: string[];
  /** BullMQ job records left (bounded by removeOnComplete / removeOnFail). */
  jobRecords: number;
  seconds: number;
}

/** The bounds issue 15 sets: RSS within 30 MB, heap within 10 MB, descriptors equal. */
export function withinBounds(r: RunsSoakReport): string[] {
  const problems: string[] = [];
  r.final.forEach((f, i) => {
    const b = r.baseline[i];
    if (!b) return;
    const mb = (x: number): string => `${(x / 2 ** 20).toFixed(1)} MB`;
    if (f.rssBytes - b.rssBytes > 30 * 2 ** 20)
      problems.push(`${f.id}: RSS grew ${mb(f.rssBytes - b.rssBytes)}`);
    if (f.heapUsedBytes - b.heapUsedBytes > 10 * 2 ** 20)
      problems.push(`${f.id}: heap grew ${mb(f.heapUsedBytes - b.heapUsedBytes)}`);
    if (f.fds !== b.fds) problems.push(`${f.id}: ${b.fds} open descriptors became ${f.fds}`);
    if (f.runsHeld !== 0) problems.push(`${f.id}: still holds ${f.runsHeld} runs`);
  });
  if (r.badRuns) problems.push(`${r.badRuns} runs did not deliver every batch once, in order`);
  if (r.strayKeys.length) problems.push(`keys left in Redis: ${r.strayKeys.slice(0, 5).join(', ')}`);
  return problems;
}

const SHAPES: Shape4[] = [
  [2, 8, 7, 7],
  [4, 16, 7, 7],
  [1, 32, 14, 14],
  [8, 16, 14, 14],
  [2, 64, 8, 8],
];

export async function soakRuns(o: RunsSoakOptions): Promise<RunsSoakReport> {
  const redis = await LocalRedis.start({ appendonly: false });
  const prefix = '{soakruns}';
  const queue = 'soakruns';
  const keys = new Keyspace(prefix);
  const workers = [0, 1].map((i) =>
    WorkerProcess.start({
      url: redis.url,
      prefix,
      queue,
      id: `pool-${i}`,
      backend: 'fused',
      // Heap figures after a full collection (the heartbeat collects when gc is exposed).
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc`.trim() },
    }),
  );
  const pipeline = await Pipeline.connect({ redis: redis.url, prefix, queue });
  const started = Date.now();
  let batches = 0;
  let badRuns = 0;
  let killedDrivers = 0;
  let baseline: WorkerSample[] = [];
  try {
    await waitUntil(
      async () => (await listWorkers(pipeline.redis, keys)).length === 2,
      60_000,
      'workers live',
    );
    const baselineAfter = o.baselineAfter ?? 100;
    for (let i = 0; i < o.runs; i++) {
      const shape = SHAPES[i % SHAPES.length] as Shape4;
      const plane = i % 2 ? 'direct' : 'redis';
      const count = 2 + (i % 3);
      const killed = o.killEvery > 0 && i % o.killEvery === o.killEvery - 1;
      const ok = killed
        ? await killedThenResumed(pipeline, redis.url, prefix, queue, `soak-${i}`, shape, plane)
        : await shortRun(pipeline, `soak-${i}`, shape, plane, count);
      if (killed) killedDrivers++;
      batches += ok.batches;
      if (!ok.inOrder) badRuns++;
      if (i + 1 === baselineAfter) baseline = await sample(pipeline, workers, keys);
      if ((i + 1) % 100 === 0) o.log(`${i + 1}/${o.runs} runs, ${killedDrivers} drivers killed`);
    }
    const final = await sample(pipeline, workers, keys);
    const left = await scanKeys(redis.url, [`${prefix}*`, `${keys.blobPrefix}*`]);
    const bull = `${prefix}:${queue}:`;
    const strayKeys = left.filter(
      (k) => !k.startsWith(bull) && !k.startsWith(`${prefix}:worker`) && !k.startsWith(`${prefix}:finished:`),
    );
    return {
      runs: o.runs,
      killedDrivers,
      batches,
      badRuns,
      baseline,
      final,
      strayKeys,
      jobRecords: left.filter((k) => k.startsWith(bull) && /:\d+$|\.[0-9a-f]+\.\d+$/.test(k)).length,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await pipeline.close().catch(() => undefined);
    await Promise.all(workers.map((w) => w.stop()));
    await redis.dispose();
  }
}

/** A short run in this process: every batch back once, in order. */
async function shortRun(
  pipeline: Pipeline,
  runId: string,
  shape: Shape4,
  plane: 'redis' | 'direct',
  count: number,
): Promise<{ batches: number; inOrder: boolean }> {
  const run = await pipeline.openRun({ runId, seed: 1, dataPlane: plane, maxInFlight: 4 });
  const seqs = await feedAndCollect(run, shape, 0, count);
  await run.close();
  return { batches: count, inOrder: seqs.every((s, k) => s === k) && seqs.length === count };
}

/**
 * A `cnsn run` process SIGKILLed once it has had a batch delivered (its run stays in Redis, its
 * endpoint vanishes under the workers), then resumed here to completion.
 */
async function killedThenResumed(
  pipeline: Pipeline,
  url: string,
  prefix: string,
  queue: string,
  runId: string,
  shape: Shape4,
  plane: 'redis' | 'direct',
): Promise<{ batches: number; inOrder: boolean }> {
  // Far more batches than it can deliver before the kill lands: the kill always strikes mid-run.
  const planned = 100_000;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'apps/cli/src/main.ts',
      'run',
      '--synthetic',
      '--batches',
      String(planned),
      '--shape',
      shape.join(','),
      '--run-id',
      runId,
      '--redis',
      url,
      '--prefix',
      prefix,
      '--queue',
      queue,
      '--data-plane',
      plane,
      '--max-in-flight',
      '4',
      '--no-progress',
    ],
    { cwd: REPO_ROOT, stdio: 'ignore' },
  );
  const exited = new Promise((r) => child.once('exit', r));
  const runKey = new Keyspace(prefix).run(runId);
  const client = new Redis(url);
  let running = false;
  let enqueued = 0;
  try {
    // Killed once it has had a batch delivered.
    await waitUntil(
      async () => Number((await client.hget(runKey, 'delivered')) ?? 0) >= 1 || child.exitCode !== null,
      120_000,
      `driver of ${runId} delivering`,
    );
    // The fault strikes where it means to: the driver still running, with a batch delivered.
    running = child.exitCode === null && child.signalCode === null;
    child.kill('SIGKILL');
    await exited;
    enqueued = Number((await client.hget(runKey, 'enqueued')) ?? 0);
  } finally {
    client.disconnect();
  }
  // The resumed driver enqueues again what the killed one had out, and two more, then ends.
  const count = enqueued + 2;
  const run = await pipeline.openRun({ runId, resume: true, maxInFlight: 4 });
  const from = run.nextSeq;
  // Data of this driver's own (the soak checks order and memory, not the values).
  const seqs = await feedAndCollect(run, shape, from, count);
  await run.close();
  const inOrder = seqs.every((s, k) => s === from + k) && seqs.length === count - from;
  return { batches: count, inOrder: inOrder && running && from >= 1 && from < count };
}

async function feedAndCollect(
  run: PipelineRun,
  shape: Shape4,
  from: number,
  to: number,
  make: (seq: number) => { data: Float32Array } = (seq) => testBatch(shape, seq),
): Promise<number[]> {
  const feeding = (async () => {
    for (let seq = from; seq < to; seq++) await run.enqueue(make(seq).data, shape);
    await run.end();
  })();
  const seqs: number[] = [];
  for await (const b of run.results()) seqs.push(b.seq);
  await feeding;
  return seqs;
}

/** Each worker's figures once it is idle and holds no run, from a heartbeat sent after that. */
async function sample(pipeline: Pipeline, workers: WorkerProcess[], keys: Keyspace): Promise<WorkerSample[]> {
  const since = Date.now();
  let infos: WorkerInfo[] = [];
  await waitUntil(
    async () => {
      infos = await listWorkers(pipeline.redis, keys);
      return (
        infos.length === workers.length && infos.every((w) => w.runsHeld === 0 && w.lastSeen > since + 100)
      );
    },
    120_000,
    'idle workers that hold no run',
  );
  return workers.map((w) => {
    const info = infos.find((x) => x.id === w.id) as WorkerInfo;
    const pid = w.child.pid as number;
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return {
      id: w.id,
      rssBytes: Number(rss) * 1024,
      heapUsedBytes: info.heapUsedBytes,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      runsHeld: info.runsHeld,
    };
  });
}
