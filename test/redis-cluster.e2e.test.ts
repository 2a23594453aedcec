import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { type Shape4 } from '@cnsn/kernels';
import { type DeliveredBatch, isCluster, type PipelineRun } from '@cnsn/pipeline';
import calculateSlot from 'cluster-key-slot';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ClusterEnv,
  DashboardProcess,
  digestOf,
  expectedDigest,
  REPO_ROOT,
  runCnsn,
  testBatch,
  waitUntil,
} from './support/index.js';

// A real Redis Cluster (3 primaries, 3 replicas, AOF, 1 s node timeout) on loopback ports, started
// and stopped by this file. Failover and reshard run last: they change the cluster for good.
const SHAPE: Shape4 = [4, 8, 7, 7];
const crossnorm = { crop: 'both', chan: true } as const;
const batches = Array.from({ length: 24 }, (_, i) => testBatch(SHAPE, 700 + i));

let env: ClusterEnv;
beforeAll(async () => {
  env = await ClusterEnv.start();
}, 60_000);
afterAll(() => env?.dispose());
beforeEach(() => env.use());

async function collect(
  run: PipelineRun,
  during?: (delivered: number) => Promise<void>,
): Promise<DeliveredBatch[]> {
  const producing = (async () => {
    for (const b of batches) await run.enqueue(b.data, b.shape);
    await run.end();
  })();
  const out: DeliveredBatch[] = [];
  for await (const r of run.results()) {
    out.push({ ...r, data: r.data.slice() });
    await during?.(out.length);
  }
  await producing;
  return out;
}

const synthetic = [
  '--synthetic',
  '--batches',
  '10',
  '--shape',
  '8,16,9,9',
  '--seed',
  '4',
  '--json',
  '--no-progress',
];

describe('on a Redis Cluster', () => {
  it('cnsn run against one node gives the digest of a standalone run, with 1 and 2 workers, on both planes', async () => {
    const standalone = await runCnsn(['run', ...synthetic]);
    expect(standalone.code, standalone.stderr).toBe(0);
    const digest = (standalone.json as { digest: string }).digest;
    for (const [workers, plane] of [
      ['1', 'redis'],
      ['2', 'redis'],
      ['2', 'direct'],
    ] as const) {
      const r = await runCnsn([
        'run',
        ...synthetic,
        '--redis',
        env.url,
        '--prefix',
        `{cl${workers}${plane}}`,
        '--workers-local',
        workers,
        '--data-plane',
        plane,
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ digest, delivered: 10, failed: 0, dataPlane: plane });
    }
  });

  it('spreads tensor blobs over more than one primary, and keeps the control keys on one slot', async () => {
    const pipeline = await env.pipeline('redis');
    expect(isCluster(pipeline.redis)).toBe(true);
    const run = await pipeline.openRun({ seed: 3, crossnorm, maxInFlight: 24 });
    // No worker yet: every input waits in Redis.
    for (const b of batches) await run.enqueue(b.data, b.shape);
    await run.end();
    const spread = await env.blobsPerPrimary();
    const holding = [...spread.values()].filter((n) => n > 0);
    expect(holding.length, JSON.stringify([...spread])).toBeGreaterThan(1);
    expect(holding.reduce((a, b) => a + b, 0)).toBe(batches.length);
    await env.startWorkers(2);
    const out: DeliveredBatch[] = [];
    for await (const r of run.results()) out.push({ ...r, data: r.data.slice() });
    expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 3, crossnorm, null));
    // Delivered blobs are gone from every shard.
    expect([...(await env.blobsPerPrimary()).values()].every((n) => n === 0)).toBe(true);
    await run.close();
  });

  it('status, the dashboard and --resume work against a cluster node', async () => {
    const tmp = await mkdtemp(join(tmpdir(), 'cnsn-cluster-resume-'));
    try {
      // Batches 0..2 at full speed, then each held a minute: the run stays open while status and
      // the dashboard look at it, and the driver's kill always lands mid-run.
      const [holder] = await env.startWorkers(1, {
        env: { CNSN_FAULT_DELAY_MS: '60000', CNSN_FAULT_FROM_SEQ: '3' },
      });
      const out = join(tmp, 'out');
      const common = ['--redis', env.url, '--prefix', env.prefix, '--queue', env.queue, '--run-id', 'clr'];
      const args = [
        'run',
        '--synthetic',
        '--batches',
        '14',
        '--shape',
        '4,8,7,7',
        '--seed',
        '6',
        '--out',
        out,
      ];
      const driver = spawn(
        process.execPath,
        ['--import', 'tsx', 'apps/cli/src/main.ts', ...args, ...common],
        {
          cwd: REPO_ROOT,
          stdio: 'ignore',
        },
      );
      const exited = new Promise((r) => driver.once('exit', r));
      const written = async (): Promise<number> =>
        (await readdir(out).catch(() => [] as string[])).filter((f) => f.endsWith('.npy')).length;
      await waitUntil(async () => (await written()) >= 3, 120_000, 'three outputs');
      // status while the run is open: the run, its plane, the worker.
      const status = await runCnsn([
        'status',
        '--redis',
        env.url,
        '--prefix',
        env.prefix,
        '--queue',
        env.queue,
        '--json',
      ]);
      expect(status.code, status.stderr).toBe(0);
      const s = status.json as { runs: Array<{ run: string }>; workers: Array<{ id: string }> };
      expect(s.runs.map((r) => r.run)).toContain('clr');
      expect(s.workers.length).toBe(1);
      // The dashboard's JSON and metrics from the cluster.
      const dashboard = await DashboardProcess.start({
        redisUrl: env.url,
        prefix: env.prefix,
        queue: env.queue,
      });
      try {
        const api = (await (await fetch(`${dashboard.url}/api/status`)).json()) as {
          runs: Array<{ run: string }>;
        };
        expect(api.runs.map((r) => r.run)).toContain('clr');
        expect(await (await fetch(`${dashboard.url}/metrics`)).text()).toMatch(/^cnsn_worker_info\{/m);
      } finally {
        await dashboard.stop();
      }
      expect(await written()).toBe(3);
      driver.kill('SIGKILL');
      await exited;
      // The holder goes (its held batch is redone once its lock expires); a plain worker comes.
      await holder?.kill();
      env.workers.splice(0);
      await env.startWorkers(1);
      const resumed = await runCnsn([...args, ...common, '--resume', '--json', '--no-progress']);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/resuming at batch \d+/);
      expect((await readdir(out)).filter((f) => f.endsWith('.npy')).length).toBe(14);
      // The files are those of one uninterrupted standalone run.
      const reference = join(tmp, 'reference');
      const whole = await runCnsn([...args.slice(0, -1), reference, '--json', '--no-progress']);
      expect(whole.code, whole.stderr).toBe(0);
      const files = await npyFiles(reference);
      expect(files.length).toBe(14);
      for (const f of files)
        expect((await readFile(f)).equals(await readFile(join(out, basename(f)))), basename(f)).toBe(true);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it('slots resharded mid-run: nothing lost, duplicated or reordered', async () => {
    await env.startWorkers(2, { env: { CNSN_FAULT_DELAY_MS: '40' } });
    const pipeline = await env.pipeline('redis');
    const run = await pipeline.openRun({ seed: 11, crossnorm, maxInFlight: 8 });
    let moved = false;
    const out = await collect(run, async (delivered) => {
      if (delivered !== 6 || moved) return;
      moved = true;
      // The primary of the run's control keys gives 2000 slots (its own among them) to another.
      const [from, to] = await primariesAround(calculateSlot(env.prefix));
      await env.cluster.reshard(from, to, 2000);
    });
    expect(moved).toBe(true);
    expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 11, crossnorm, null));
    await run.close();
  });

  it('a primary SIGKILLed mid-run: its replica takes over; nothing lost, duplicated or reordered', async () => {
    await env.startWorkers(2, { env: { CNSN_FAULT_DELAY_MS: '40' } });
    const pipeline = await env.pipeline('redis');
    const run = await pipeline.openRun({ seed: 12, crossnorm, maxInFlight: 8 });
    let killed = 0;
    const out = await collect(run, async (delivered) => {
      if (delivered !== 6 || killed) return;
      // The primary holding the queue, the run state and the locks: the hardest one to lose.
      const slot = calculateSlot(env.prefix);
      const owner = (await env.cluster.primaries()).find((p) =>
        p.slots.some(([a, b]) => slot >= a && slot <= b),
      );
      expect(owner).toBeDefined();
      killed = owner?.port ?? 0;
      await env.cluster.node(killed).kill();
    });
    expect(killed).toBeGreaterThan(0);
    expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 12, crossnorm, null));
    await run.close();
    await env.cluster.waitHealthy();
    expect((await env.cluster.primaries()).map((p) => p.port)).not.toContain(killed);
  });
});

/** The primary serving `slot`, and another primary. */
async function primariesAround(slot: number): Promise<[string, string]> {
  const primaries = await env.cluster.primaries();
  const owner = primaries.find((p) => p.slots.some(([a, b]) => slot >= a && slot <= b));
  const other = primaries.find((p) => p !== owner);
  if (!owner || !other) throw new Error('cluster has fewer than 2 primaries');
  return [owner.id, other.id];
}

async function npyFiles(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith('.npy'))
    .sort()
    .map((f) => join(dir, f));
}
