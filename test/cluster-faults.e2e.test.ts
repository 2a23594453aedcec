import { type ChildProcess, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { NetCluster, netnsUnavailable } from '@cnsn/infra';
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
const run = promisify(execFile);
const BATCHES_LONG = 150;
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
        env: { ...process.env, CNSN_FAULT_DELAY_MS: '60' },
      },
    );
    child.stderr?.on('data', (d: Buffer) => logs.set(host, (logs.get(host) ?? '') + d.toString()));
    return child;
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
    const clean = await runCnsn(['run', ...RUN]);
    expect(clean.code, clean.stderr).toBe(0);
    c.block('w2', 'driver');
    try {
      const driver = c.host('driver').address;
      const out = await runCnsn(
        [
          'run',
          ...RUN,
          '--redis',
          redisUrl,
          '--prefix',
          PREFIX,
          '--queue',
          QUEUE,
          '--workers-local',
          '0',
        ].concat(['--listen', `${driver}:0`, '--advertise', `${driver}:0`]),
        { netns: c.host('driver').ns, timeoutMs: 120_000 },
      );
      expect(out.code, out.stderr).toBe(0);
      const summary = out.json as { dataPlane: string; digest: string; delivered: number };
      expect(summary.dataPlane).toBe('redis');
      expect(out.stderr).toMatch(
        /data plane redis: auto: worker \S+ .*cannot reach http:\/\/10\.77\.0\.3:\d+/,
      );
      expect(summary.delivered).toBe(12);
      expect(summary.digest).toBe((clean.json as { digest: string }).digest);
    } finally {
      c.unblock('w2', 'driver');
    }
  }, 150_000);

  it('the driver cut off from Redis for 10 s mid-run carries on when the link is back', async () => {
    const clean = await runCnsn(['run', ...LONG]);
    expect(clean.code, clean.stderr).toBe(0);
    const driver = c.host('driver').address;
    const args = ['--import', 'tsx', 'apps/cli/src/main.ts', 'run', ...LONG, '--redis', redisUrl];
    args.push('--prefix', PREFIX, '--queue', QUEUE, '--workers-local', '0', '--run-id', 'cut-driver');
    args.push('--data-plane', 'direct', '--listen', `${driver}:0`, '--advertise', `${driver}:0`);
    const child = c.spawn('driver', process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    // The run's cursor, read in Redis from another host.
    const delivered = async (): Promise<number> => {
      const { stdout: out } = await run('ip', [
        'netns',
        'exec',
        c.host('w1').ns,
        'redis-cli',
        '-h',
        c.host('redis').address,
        'HGET',
        `${PREFIX}:run:cut-driver`,
        'delivered',
      ]);
      return Number(out.trim() || 0);
    };
    await waitUntil(async () => (await delivered()) >= 5, 60_000, 'the run under way');
    c.block('driver', 'redis');
    const atCut = await delivered();
    await new Promise((r) => setTimeout(r, 10_000)); // the fault's length, not a hope
    // The fault struck: the run is not done, and its cursor did not move while its driver was cut.
    expect(await delivered()).toBe(atCut);
    expect(atCut).toBeLessThan(BATCHES_LONG);
    c.unblock('driver', 'redis');
    expect(await exited, stderr).toBe(0);
    const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
      delivered: number;
      digest: string;
    };
    expect(summary.delivered).toBe(BATCHES_LONG);
    expect(summary.digest).toBe((clean.json as { digest: string }).digest);
  }, 180_000);
});
