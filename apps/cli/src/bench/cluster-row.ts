import { NetCluster } from '@cnsn/infra';
import { workerCommand } from '../local-workers.js';

/** One configuration of `bench cluster`: a plane and wire, drivers and worker hosts. */
export interface ClusterRowSpec {
  plane: 'direct' | 'redis';
  wire: 'float32' | 'bfloat16' | 'float16';
  drivers: number;
  workerHosts: number;
}

export interface ClusterRow extends ClusterRowSpec {
  gbPerSec: number;
  driverLinkBytesPerBatch: number;
  redisLinkBytesPerBatch: number;
}

export interface ClusterRowOptions {
  linkMbit: number;
  shape: readonly number[];
  batches: number;
  backend: string;
  /** Batches each worker takes at once. @defaultValue 1 */
  workerConcurrency?: number;
}

const PREFIX = '{bench}';
const QUEUE = 'bench-cluster';

/**
 * Runs one row on a fresh cluster: a Redis host, driver hosts and worker hosts, every link shaped
 * to `linkMbit`; each driver runs `cnsn run` on synthetic batches. Throughput is the drivers' sum;
 * link bytes come from the interfaces' counters of the first driver and of the Redis host.
 */
export async function clusterRow(spec: ClusterRowSpec, o: ClusterRowOptions): Promise<ClusterRow> {
  const names = {
    drivers: Array.from({ length: spec.drivers }, (_, i) => `d${i + 1}`),
    workers: Array.from({ length: spec.workerHosts }, (_, i) => `w${i + 1}`),
  };
  const c = NetCluster.create(
    ['redis', ...names.drivers, ...names.workers].map((name) => ({ name, rateMbit: o.linkMbit })),
  );
  try {
    const redisUrl = await startRedis(c);
    // Where every process of the row finds its queue.
    const queue = ['--redis', redisUrl, '--prefix', PREFIX, '--queue', QUEUE];
    const [node, ...entry] = workerCommand();
    for (const w of names.workers) {
      const concurrency = ['--concurrency', String(o.workerConcurrency ?? 1)];
      const args = [
        ...entry,
        ...queue,
        '--backend',
        o.backend,
        ...concurrency,
        '--id',
        w,
        '--log-level',
        'error',
      ];
      c.spawn(w, node as string, args, { stdio: 'ignore' });
    }
    await until(
      async () => Number(await redisCli(c, ['ZCARD', `${PREFIX}:workers`])) >= spec.workerHosts,
      60_000,
      'the workers',
    );
    const before = { driver: c.linkBytes('d1'), redis: c.linkBytes('redis') };
    // The drivers start their clocks together, once each has made its batches and connected (they
    // would otherwise make them while another runs, and share the 2 cores unevenly).
    const startAt = Date.now() + (spec.drivers > 1 ? 20_000 : 0);
    const summaries = await Promise.all(
      names.drivers.map((d, i) => drive(c, d, `row-${process.pid}-${i}`, queue, spec, { ...o, startAt })),
    );
    const after = { driver: c.linkBytes('d1'), redis: c.linkBytes('redis') };
    const moved = (a: { tx: number; rx: number }, b: { tx: number; rx: number }): number =>
      b.tx - a.tx + (b.rx - a.rx);
    return {
      ...spec,
      // The drivers' bytes over the longest of their times (they start together): not the sum of
      // their rates, which would count a driver that finished early as still going.
      gbPerSec: round(
        summaries.reduce((sum, s) => sum + s.gbPerSec * s.seconds, 0) /
          Math.max(...summaries.map((s) => s.seconds)),
      ),
      driverLinkBytesPerBatch: Math.round(moved(before.driver, after.driver) / o.batches),
      redisLinkBytesPerBatch: Math.round(moved(before.redis, after.redis) / (o.batches * spec.drivers)),
    };
  } finally {
    c.dispose();
  }
}

async function startRedis(c: NetCluster): Promise<string> {
  const address = c.host('redis').address;
  // Protected mode off: the server listens only on its namespace's address.
  c.spawn(
    'redis',
    'redis-server',
    ['--bind', address, '--port', '6379', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    {
      stdio: 'ignore',
    },
  );
  await until(async () => (await redisCli(c, ['PING'])) === 'PONG', 15_000, 'redis-server');
  return `redis://${address}:6379`;
}

/** One driver's `cnsn run` inside its host; its summary. */
async function drive(
  c: NetCluster,
  host: string,
  runId: string,
  queue: string[],
  spec: ClusterRowSpec,
  o: ClusterRowOptions & { startAt: number },
): Promise<{ gbPerSec: number; seconds: number }> {
  const address = c.host(host).address;
  const [node, ...self] = [process.execPath, ...process.execArgv, process.argv[1] as string];
  const args = [...self, 'run', '--synthetic', '--batches', String(o.batches), '--shape', o.shape.join(',')];
  args.push('--selfnorm', 'off', ...queue, '--workers-local', '0', '--run-id', runId);
  args.push(
    '--data-plane',
    spec.plane,
    '--wire',
    spec.wire,
    '--listen',
    `${address}:0`,
    '--advertise',
    `${address}:0`,
  );
  args.push('--json', '--no-progress', '--start-at', String(o.startAt));
  const stdout = await c.exec(host, node as string, args).catch((err: { stderr?: string }) => {
    throw new Error(`driver on ${host}: ${(err.stderr ?? '').trim().split('\n').pop() ?? 'failed'}`);
  });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { gbPerSec: number; seconds: number };
}

async function redisCli(c: NetCluster, args: string[]): Promise<string> {
  const out = await c.exec('redis', 'redis-cli', ['-h', c.host('redis').address, ...args]).catch(() => '');
  return out.trim();
}

async function until(done: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline)
      throw new Error(`bench cluster: ${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
