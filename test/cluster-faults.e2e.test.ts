import { type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NetCluster, netnsUnavailable } from '@cnsn/infra';
import { WORKER_TTL_MS } from '@cnsn/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCnsn, waitUntil } from './support/index.js';

// Faults between hosts: Redis, the driver and the workers each in a network namespace of their own.
const unavailable = netnsUnavailable();
if (unavailable && process.env.CNSN_REQUIRE_NETNS === '1')
  throw new Error(`CNSN_REQUIRE_NETNS=1 but ${unavailable}`);

const PREFIX = '{cf}';
const QUEUE = 'cluster-faults';
// The test-support entry: with CNSN_FAULT_DELAY_MS each batch is held, so a run lasts long enough
// for a fault to strike in its middle.
const WORKER_ENTRY = fileURLToPath(new URL('./support/fault-worker.ts', import.meta.url));
interface Summary {
  delivered: number;
  digest: string;
}

// 400 batches held 100 ms each on 2 workers: at least 20 s of work, more than the 15 s of link up
// time the five flaps give, so every flap strikes a run under way.
const BATCHES_LONG = 400;
const LONG = [
  '--synthetic',
  '--batches',
  String(BATCHES_LONG),
  '--shape',
  '4,8,6,5',
  '--seed',
  '6',
  '--json',
  '--no-progress',
];
const RUN = [
  '--synthetic',
  '--batches',
  '12',
  '--shape',
  '4,8,6,5',
  '--seed',
  '5',
  '--json',
  '--no-progress',
];

describe.skipIf(unavailable !== null)('faults between hosts', () => {
  let c: NetCluster;
  let redisUrl: string;
  const logs = new Map<string, string>();

  const startWorker = (host: string): ChildProcess => {
    const child = c.spawn(
      host,
      process.execPath,
      ['--import', 'tsx', WORKER_ENTRY, '--redis', redisUrl, '--prefix', PREFIX, '--queue', QUEUE],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, CNSN_FAULT_DELAY_MS: '100' },
      },
    );
    child.stderr?.on('data', (d: Buffer) => logs.set(host, (logs.get(host) ?? '') + d.toString()));
    return child;
  };

  /** `cnsn run` flags for the driver host on the cluster's queue, serving at its own address. */
  const driverArgs = (plane: string, runId?: string): string[] => {
    const driver = c.host('driver').address;
    return [
      ...['--redis', redisUrl, '--prefix', PREFIX, '--queue', QUEUE, '--workers-local', '0'],
      ...(runId ? ['--run-id', runId] : []),
      ...['--data-plane', plane, '--listen', `${driver}:0`, '--advertise', `${driver}:0`],
    ];
  };

  beforeAll(async () => {
    c = NetCluster.create([{ name: 'redis' }, { name: 'driver' }, { name: 'w1' }, { name: 'w2' }]);
    const redis = c.host('redis').address;
    redisUrl = `redis://${redis}:6379`;
    c.spawn(
      'redis',
      'redis-server',
      ['--bind', redis, '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      {
        stdio: 'ignore',
      },
    );
    startWorker('w1');
    startWorker('w2');
    // Both workers live (their heartbeats), as the driver host sees them.
    await waitUntil(
      async () => {
        const s = await runCnsn(
          ['status', '--json', '--redis', redisUrl, '--prefix', PREFIX, '--queue', QUEUE],
          {
            netns: c.host('driver').ns,
          },
        );
        return ((s.json as { workers?: unknown[] } | null)?.workers?.length ?? 0) >= 2;
      },
      60_000,
      'two live workers',
    );
  }, 90_000);
  afterAll(() => c?.dispose());

  it('a worker that reaches Redis but not the driver: auto takes the redis plane and says which worker and why', async () => {
    const clean = await cleanDigest(RUN);
    c.block('w2', 'driver');
    try {
      const out = await runCnsn(['run', ...RUN, ...driverArgs('auto')], {
        netns: c.host('driver').ns,
        timeoutMs: 120_000,
      });
      expect(out.code, out.stderr).toBe(0);
      const summary = out.json as { dataPlane: string; digest: string; delivered: number };
      expect(summary.dataPlane).toBe('redis');
      expect(out.stderr).toMatch(
        /data plane redis: auto: worker \S+ .*cannot reach http:\/\/10\.77\.0\.3:\d+/,
      );
      expect(summary.delivered).toBe(12);
      expect(summary.digest).toBe(clean);
    } finally {
      c.unblock('w2', 'driver');
    }
  }, 150_000);

  /** `cnsn run` of LONG on the driver host, in the background: its exit and its summary. */
  const startDriver = (
    runId: string,
    plane = 'direct',
  ): { exited: Promise<number | null>; summary: () => Summary; log: () => string } => {
    const args = ['--import', 'tsx', 'apps/cli/src/main.ts', 'run', ...LONG, ...driverArgs(plane, runId)];
    const child = c.spawn('driver', process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    return {
      exited: new Promise<number | null>((resolve) => child.once('close', resolve)),
      summary: () => JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Summary,
      log: () => stderr,
    };
  };

  /** The digest of a clean run of `args` (LONG or RUN), made once: every test compares with it. */
  const cleanRuns = new Map<string[], Promise<string>>();
  const cleanDigest = (args: string[]): Promise<string> => {
    let digest = cleanRuns.get(args);
    if (!digest) {
      digest = runCnsn(['run', ...args]).then((clean) => {
        expect(clean.code, clean.stderr).toBe(0);
        return (clean.json as Summary).digest;
      });
      cleanRuns.set(args, digest);
    }
    return digest;
  };

  /** The driver ended well: exit 0, every batch of LONG delivered, the clean run's digest. */
  const expectCompleted = async (driver: ReturnType<typeof startDriver>): Promise<void> => {
    expect(await driver.exited, driver.log()).toBe(0);
    expect(driver.summary().delivered).toBe(BATCHES_LONG);
    expect(driver.summary().digest).toBe(await cleanDigest(LONG));
  };

  /** A run's cursor, read in Redis from host w1. */
  const delivered = async (runId: string): Promise<number> => {
    const hget = ['-h', c.host('redis').address, 'HGET', `${PREFIX}:run:${runId}`, 'delivered'];
    return Number((await c.exec('w1', 'redis-cli', hget)).trim() || 0);
  };

  it.each(['direct', 'redis'])(
    'the driver cut off from Redis for 10 s mid-run carries on when the link is back (%s plane)',
    async (plane) => {
      await cleanDigest(LONG);
      const id = `cut-driver-${plane}`;
      const driver = startDriver(id, plane);
      await waitUntil(async () => (await delivered(id)) >= 5, 60_000, 'the run under way');
      c.block('driver', 'redis');
      const atCut = await delivered(id);
      await new Promise((r) => setTimeout(r, 10_000)); // the fault's length, not a hope
      // The fault struck: the run is not done, and its cursor did not move while its driver was cut.
      expect(await delivered(id)).toBe(atCut);
      expect(atCut).toBeLessThan(BATCHES_LONG);
      c.unblock('driver', 'redis');
      await expectCompleted(driver);
    },
    180_000,
  );

  it.each(['direct', 'redis'])(
    "the Redis host's link flapping (down 2 s, up 3 s, five times): nothing lost, duplicated or reordered (%s plane)",
    async (plane) => {
      await cleanDigest(LONG);
      const id = `flap-${plane}`;
      const driver = startDriver(id, plane);
      await waitUntil(async () => (await delivered(id)) >= 3, 60_000, 'the run under way');
      for (let i = 0; i < 5; i++) {
        // Each flap strikes a run under way: read while the link is up, just before it goes down.
        expect(await delivered(id)).toBeLessThan(BATCHES_LONG);
        c.cut('redis');
        await new Promise((r) => setTimeout(r, 2000));
        c.restore('redis');
        await new Promise((r) => setTimeout(r, 3000));
      }
      await expectCompleted(driver);
    },
    180_000,
  );

  it.each(['direct', 'redis'])(
    'a worker host cut off for 15 s mid-batch, then back: its batch is redone elsewhere and its late result changes nothing (%s plane)',
    async (plane) => {
      await cleanDigest(LONG);
      const id = `cut-worker-${plane}`;
      const driver = startDriver(id, plane);
      // The cut strikes while w2 holds a batch of this run (each hold is said before it starts).
      const held = new RegExp(`fault: holding batch (\\d+) of run ${id}\\b`);
      await waitUntil(() => held.test(logs.get('w2') ?? ''), 60_000, 'w2 holding a batch of the run');
      c.cut('w2');
      const seq = Number(held.exec(logs.get('w2') ?? '')?.[1]);
      await new Promise((r) => setTimeout(r, 15_000)); // the fault's length, not a hope
      c.restore('w2');
      await expectCompleted(driver);
      // Its lock ran out while it was cut off (WORKER_LOCK): the batch was taken again, by w1 as a
      // rule (by w2 itself only if the stall check came after it was back).
      const line = new RegExp(`fault: holding batch ${seq} of run ${id}\\b`, 'g');
      const holds = [logs.get('w1') ?? '', logs.get('w2') ?? ''].reduce(
        (n, l) => n + (l.match(line)?.length ?? 0),
        0,
      );
      expect(holds).toBeGreaterThanOrEqual(2);
    },
    180_000,
  );

  it.each(['direct', 'redis'])(
    'a 5 per cent loss on every link (no delay: this kernel has no netem): the run completes, same digest (%s plane)',
    async (plane) => {
      const clean = await cleanDigest(RUN);
      for (const name of c.hosts.keys()) c.shape(name, { lossPct: 5 });
      try {
        const args = ['run', ...RUN, ...driverArgs(plane)];
        const out = await runCnsn(args, { netns: c.host('driver').ns, timeoutMs: 170_000 });
        expect(out.code, out.stderr).toBe(0);
        const summary = out.json as Summary & { seconds: number; dataPlane: string };
        expect(summary.dataPlane).toBe(plane);
        expect(summary.digest).toBe(clean);
        process.stderr.write(
          `5% loss on every link, ${plane} plane: 12 batches of 4x8x6x5 in ${summary.seconds} s\n`,
        );
      } finally {
        for (const name of c.hosts.keys()) c.shape(name, {});
      }
    },
    180_000,
  );

  it('status shows each worker at its address, and a worker host cut off leaves the list within the heartbeat timeout', async () => {
    const status = async (): Promise<Array<{ id: string; address: string }>> => {
      const out = await runCnsn(
        ['status', '--json', '--redis', redisUrl, '--prefix', PREFIX, '--queue', QUEUE],
        {
          netns: c.host('driver').ns,
        },
      );
      return (out.json as { workers: Array<{ id: string; address: string }> }).workers;
    };
    const addresses = (await status()).map((w) => w.address).sort();
    expect(addresses).toEqual([c.host('w1').address, c.host('w2').address].sort());
    c.cut('w2');
    const t0 = Date.now();
    await waitUntil(async () => (await status()).length === 1, WORKER_TTL_MS + 10_000, 'w2 gone from status');
    expect(Date.now() - t0).toBeLessThan(WORKER_TTL_MS + 10_000);
    expect((await status())[0]?.address).toBe(c.host('w1').address);
    c.restore('w2');
    await waitUntil(async () => (await status()).length === 2, 30_000, 'w2 back in status');
  }, 90_000);
});
