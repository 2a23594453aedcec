// npm run soak: a bounded chaos run. Random SIGKILLs of workers (each replaced) and a Redis kill
// and restart (AOF on) while a run of a few hundred batches goes on; at the end the digest must
// equal a clean in-process computation. `npm run soak -- --cluster` runs on a local Redis Cluster
// (3 primaries, 3 replicas) on the redis plane, and SIGKILLs the primary of the queue's slot
// instead (its replica takes over; the killed node rejoins as a replica 3 s later). Prints faults injected, batches, lost, duplicated and the
// longest stall; exits 0 only when nothing was lost, duplicated or changed.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { LocalRedis, LocalRedisCluster } from '@cnsn/infra';
import calculateSlot from 'cluster-key-slot';
import { type Shape4 } from '@cnsn/kernels';
import { listWorkers, type Logger, Pipeline } from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';
import { soakRuns, withinBounds } from './soak-runs.js';
import { digestOf, expectedDigest } from './support/reference.js';
import { testBatch } from './support/batches.js';
import { WorkerProcess } from './support/workers.js';

export interface SoakOptions {
  batches: number;
  shape: Shape4;
  workers: number;
  /** Mean seconds between worker kills. */
  killEverySec: number;
  /** Kill and restart Redis once, when this share of the batches is delivered (0: never). */
  redisRestartAt: number;
  /** Gives up after this long. */
  maxSeconds: number;
  seed: number;
  /** On a local Redis Cluster, the redis plane, a primary killed instead of a restart. @defaultValue false */
  cluster?: boolean;
  log: (line: string) => void;
}

export interface SoakReport {
  batches: number;
  delivered: number;
  lost: number;
  duplicated: number;
  workerKills: number;
  redisRestarts: number;
  /** Cluster mode: primaries SIGKILLed (each replaced by its replica). */
  primaryKills: number;
  longestStallMs: number;
  seconds: number;
  digestOk: boolean;
}

export async function soak(o: SoakOptions): Promise<SoakReport> {
  const cluster = o.cluster ? await LocalRedisCluster.start() : null;
  const redis = cluster ? null : await LocalRedis.start({ appendonly: true });
  const url = cluster?.url ?? (redis as LocalRedis).url;
  const prefix = '{soak}';
  const queue = 'soak';
  const keys = new Keyspace(prefix);
  let rng = o.seed >>> 0 || 1;
  const random = (): number => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) / 4294967296;
  };
  const batches = Array.from({ length: o.batches }, (_, i) => testBatch(o.shape, o.seed * 100_000 + i));
  const crossnorm = { crop: 'both', chan: true } as const;
  const want = await expectedDigest(batches, o.seed, crossnorm, null);
  let next = 0;
  const spawn = (): WorkerProcess =>
    WorkerProcess.start({
      url,
      prefix,
      queue,
      id: `soak-${next++}`,
      backend: 'fused',
      env: { CNSN_FAULT_DELAY_MS: '15' },
    });
  const workers = Array.from({ length: o.workers }, spawn);
  const everyWorker = [...workers];
  // SOAK_LOG=FILE: every worker's log, killed ones included, for a post-mortem (at exit, however).
  const logFile = process.env.SOAK_LOG && process.env.SOAK_LOG !== '1' ? process.env.SOAK_LOG : null;
  if (logFile)
    process.once('exit', () =>
      writeFileSync(logFile, everyWorker.map((w) => `== ${w.id}\n${w.log}`).join('\n')),
    );
  const pipeline = await Pipeline.connect({
    redis: url,
    prefix,
    queue,
    // SOAK_LOG=1: the driver's warnings too (lost batches queued again, reconnects).
    ...(process.env.SOAK_LOG ? { logger: stderrLogger(o.log) } : {}),
    ...(cluster ? { dataPlane: 'redis' as const } : {}),
  });
  const started = Date.now();
  let workerKills = 0;
  let redisRestarts = 0;
  let primaryKills = 0;
  let chaos = true;
  try {
    while ((await listWorkers(pipeline.redis, keys)).length < o.workers) await sleep(100);
    const run = await pipeline.openRun({ seed: o.seed, crossnorm, maxInFlight: 16 });
    const seen = new Map<number, number>();
    const outputs: Float32Array[] = [];
    let longestStallMs = 0;
    let last = Date.now();
    const chaosLoop = (async () => {
      while (chaos) {
        await sleep(o.killEverySec * 1000 * (0.5 + random()));
        if (!chaos) break;
        const i = Math.floor(random() * workers.length);
        const victim = workers[i] as WorkerProcess;
        await victim.kill();
        workers[i] = spawn();
        everyWorker.push(workers[i] as WorkerProcess);
        workerKills++;
        o.log(
          `fault: SIGKILL worker ${victim.id} (delivered ${run.delivered}/${o.batches}); started ${workers[i]?.id}`,
        );
      }
    })();
    const restartLoop = (async () => {
      if (o.redisRestartAt <= 0) return;
      while (chaos && run.delivered < o.batches * o.redisRestartAt) await sleep(50);
      if (!chaos) return;
      if (cluster) {
        const slot = calculateSlot(prefix);
        const owner = (await cluster.primaries()).find((p) =>
          p.slots.some(([a, b]) => slot >= a && slot <= b),
        );
        if (!owner) throw new Error(`no primary serves slot ${slot}`);
        const node = cluster.node(owner.port);
        await node.kill();
        primaryKills++;
        o.log(
          `fault: SIGKILL the primary on port ${owner.port}, which serves the queue (delivered ${run.delivered}/${o.batches}); it rejoins as a replica in 3 s`,
        );
        await sleep(3000);
        await node.restart();
        return;
      }
      const server = redis as LocalRedis;
      await server.kill();
      o.log(`fault: SIGKILL redis-server (delivered ${run.delivered}/${o.batches}); restarting in 1 s`);
      await sleep(1000);
      await server.restart();
      redisRestarts++;
    })();
    const producing = (async () => {
      for (const b of batches) await run.enqueue(b.data, b.shape);
      await run.end();
    })();
    const deadline = setTimeout(() => void run.close(), o.maxSeconds * 1000);
    for await (const r of run.results()) {
      const now = Date.now();
      longestStallMs = Math.max(longestStallMs, now - last);
      last = now;
      seen.set(r.seq, (seen.get(r.seq) ?? 0) + 1);
      outputs.push(r.data.slice());
      if (r.seq % 50 === 49) o.log(`delivered ${r.seq + 1}/${o.batches}`);
    }
    clearTimeout(deadline);
    chaos = false;
    await producing.catch(() => undefined);
    await Promise.all([chaosLoop, restartLoop]);
    await run.close();
    const lost = batches.filter((_, i) => !seen.has(i)).length;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    return {
      batches: o.batches,
      delivered: outputs.length,
      lost,
      duplicated,
      workerKills,
      redisRestarts,
      primaryKills,
      longestStallMs,
      seconds: (Date.now() - started) / 1000,
      digestOk: digestOf(outputs) === want,
    };
  } finally {
    chaos = false;
    await pipeline.close().catch(() => undefined);
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.dispose();
    await cluster?.dispose();
  }
}

function stderrLogger(log: (line: string) => void): Logger {
  const line = (level: string) => (fields: object, message: string) =>
    log(`driver ${level}: ${message} ${JSON.stringify(fields)}`);
  return { debug: () => undefined, info: () => undefined, warn: line('warn'), error: line('error') };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function runsSoakMain(runs: number, killEvery: number): Promise<void> {
  const report = await soakRuns({ runs, killEvery, log: (line) => process.stderr.write(`${line}\n`) });
  const mb = (x: number): string => `${(x / 2 ** 20).toFixed(1)} MB`;
  for (const [i, f] of report.final.entries()) {
    const b = report.baseline[i];
    if (!b) continue;
    process.stderr.write(
      `${f.id}: RSS ${mb(b.rssBytes)} after 100 runs, ${mb(f.rssBytes)} after ${runs} (${mb(f.rssBytes - b.rssBytes)}); heap ${mb(b.heapUsedBytes)} -> ${mb(f.heapUsedBytes)} (${mb(f.heapUsedBytes - b.heapUsedBytes)}); descriptors ${b.fds} -> ${f.fds}\n`,
    );
  }
  const problems = withinBounds(report);
  process.stderr.write(
    `soak --runs: ${report.runs} runs (${report.killedDrivers} drivers SIGKILLed and resumed), ${report.batches} batches, ${report.badRuns} runs out of order; Redis: ${report.jobRecords} BullMQ job records, ${report.strayKeys.length} other keys; ${report.seconds.toFixed(0)} s; ${problems.length ? `FAILED: ${problems.join('; ')}` : 'within bounds'}\n`,
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exitCode = problems.length ? 1 : 0;
}

const runsArg = process.argv.indexOf('--runs');
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href && runsArg > 0) {
  const killArg = process.argv.indexOf('--kill-every');
  await runsSoakMain(Number(process.argv[runsArg + 1]), killArg > 0 ? Number(process.argv[killArg + 1]) : 40);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const report = await soak({
    batches: arg('batches', 300),
    shape: [8, 64, 14, 14],
    workers: arg('workers', 3),
    killEverySec: arg('kill-every', 2),
    redisRestartAt: arg('redis-restart-at', 0.4),
    maxSeconds: arg('max-seconds', 300),
    seed: arg('seed', 1),
    cluster: process.argv.includes('--cluster'),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stderr.write(
    `soak: ${report.batches} batches, ${report.delivered} delivered, ${report.lost} lost, ${report.duplicated} duplicated; faults: ${report.workerKills} worker kills, ${report.redisRestarts} Redis restarts, ${report.primaryKills} primary kills; longest stall ${(report.longestStallMs / 1000).toFixed(1)} s; digest ${report.digestOk ? 'equal to a clean run' : 'DIFFERENT'}; ${report.seconds.toFixed(0)} s\n`,
  );
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exitCode = report.lost === 0 && report.duplicated === 0 && report.digestOk ? 0 : 1;
}
