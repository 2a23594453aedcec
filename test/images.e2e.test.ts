import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSelfNormParams, type Shape4 } from '@cnsn/kernels';
import { listWorkers } from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImages,
  type BuildReport,
  DASHBOARD_ARGS,
  driverArgs,
  HARDENED,
  LOCAL_IMAGES,
  REDIS_COMMAND,
  redisOptions,
  secondBaseLookup,
  WORKER_ARGS,
  WORKER_GRACE_SECONDS,
  writeBatches,
} from './support/image-lab.js';
import { expectedDigest, testBatch, waitUntil } from './support/index.js';
import { PodmanLab, podman, podmanStatus, podmanUnavailable } from './support/podman.js';

// The images in a real container runtime: `npm run images` once, then Redis, two workers and the
// dashboard as containers on a podman network of their own (names resolve through podman's DNS),
// and driver containers. CI sets CNSN_REQUIRE_IMAGES=1 (.ci/run installs podman, runc and
// debootstrap) to turn the skip into a failure.
const unavailable = podmanUnavailable();
if (unavailable && process.env.CNSN_REQUIRE_IMAGES === '1')
  throw new Error(`CNSN_REQUIRE_IMAGES=1 but ${unavailable}`);
if (unavailable) console.warn(`image tests skipped: ${unavailable}`);

const TOKEN = 'image-test-token';
const keys = new Keyspace();
const ACTIVE = `${keys.prefix}:augment:active`;
const WAIT = `${keys.prefix}:augment:wait`;
/** The Deployment's slots per worker: more batches active than one worker holds means both hold some. */
const CONCURRENCY = Number(WORKER_ARGS[WORKER_ARGS.indexOf('--concurrency') + 1] ?? 1);
const figures: Record<string, unknown> = {};
const seconds = (ms: number): number => Math.round(ms / 100) / 10;
const selfnorm = (seed: number) => ({ mode: 'train' as const, params: defaultSelfNormParams(64, { seed }) });

describe.skipIf(unavailable)('the images in podman: Redis, two workers, the dashboard, drivers', () => {
  let lab: PodmanLab;
  let build: BuildReport;
  let redis: Redis;
  let dashboard: string;
  let data = '';
  const image = (name: string): string => build.images.find((i) => i.name === name)?.image as string;
  const workerId = (short: string): string => `${lab.container(short)}-1`;
  const live = async (): Promise<string[]> => (await listWorkers(redis, keys)).map((w) => w.id);

  /** A worker as the Deployment runs it; resolves with the time to its first heartbeat in Redis. */
  async function startWorker(short: string): Promise<number> {
    const t0 = performance.now();
    await lab.run(short, image('cnsn-worker'), WORKER_ARGS, {
      options: [...HARDENED, '-e', 'REDIS_URL=redis://redis:6379', '-e', 'CNSN_HEALTH_MAX_AGE=5'],
    });
    const id = workerId(short);
    await waitUntil(async () => (await live()).includes(id), 60_000, `the first heartbeat of ${id}`);
    return performance.now() - t0;
  }

  async function startDashboard(): Promise<number> {
    const t0 = performance.now();
    await lab.run('dashboard', image('cnsn-dashboard'), DASHBOARD_ARGS, {
      options: [
        ...HARDENED,
        ...['-e', 'REDIS_URL=redis://redis:6379', '-e', `CNSN_DASHBOARD_TOKEN=${TOKEN}`],
        ...['-p', '127.0.0.1::8080'],
      ],
    });
    dashboard = `http://127.0.0.1:${await lab.hostPort('dashboard', 8080)}`;
    const up = async () => (await fetch(`${dashboard}/api/health`).catch(() => null))?.status === 200;
    await waitUntil(up, 60_000, 'the dashboard');
    return performance.now() - t0;
  }

  /** compose's driver (alias `driver`, the address it advertises) on files in /data; its JSON. */
  async function drive(short: string, extra: string[]): Promise<Record<string, unknown>> {
    const out = await lab.run(short, image('cnsn-driver'), driverArgs(extra), {
      wait: true,
      alias: 'driver',
      timeoutMs: 300_000,
      options: ['--rm', ...HARDENED, '-v', `${data}:/data:ro`],
    });
    return JSON.parse(out.trim().split('\n').pop() as string) as Record<string, unknown>;
  }

  beforeAll(async () => {
    lab = await PodmanLab.start();
    const t0 = performance.now();
    build = await buildImages(lab.tag);
    figures.buildSeconds = seconds(performance.now() - t0);
    figures.base = `${build.base.made}, ${build.base.seconds} s`;
    await lab.run('redis', build.base.image, REDIS_COMMAND, { alias: 'redis', options: redisOptions() });
    redis = new Redis(`redis://127.0.0.1:${await lab.hostPort('redis', 6379)}`, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    await waitUntil(async () => (await redis.ping().catch(() => '')) === 'PONG', 30_000, 'Redis');
    figures.firstHeartbeatSeconds = (await Promise.all([startWorker('w1'), startWorker('w2')])).map(seconds);
    figures.dashboardUpSeconds = seconds(await startDashboard());
    data = await mkdtemp(join(tmpdir(), 'cnsn-images-'));
    await chmod(data, 0o755); // read by the containers' user, uid 1000
  }, 900_000);

  afterAll(async () => {
    redis?.disconnect();
    if (data) await rm(data, { recursive: true, force: true });
    console.log(`images: ${JSON.stringify(figures)}`);
    const left = await lab?.dispose();
    expect(left, 'containers, networks or test images left behind').toEqual([]);
  }, 120_000);

  it('npm run images built each local image of images.json on the cached base, as its target says', async () => {
    expect(build.images.map((i) => i.name).sort()).toEqual(LOCAL_IMAGES.map((i) => i.name).sort());
    figures.imageMB = Object.fromEntries(build.images.map((i) => [i.name, i.sizeMB]));
    figures.baseMB = build.base.sizeMB;
    for (const i of build.images) {
      const [config, health] = (
        await podman(['image', 'inspect', '--format', '{{json .Config}}\n{{json .HealthCheck}}', i.image])
      )
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown) as [
        { User: string; Entrypoint: string[]; StopSignal: string; Env: string[] },
        { Test: string[] } | null,
      ];
      expect(config, i.name).toMatchObject({
        User: 'node',
        Entrypoint: ['/srv/cnsn/entrypoint.sh'],
        StopSignal: 'SIGTERM',
      });
      expect(config.Env, i.name).toContain('NODE_ENV=production');
      const test = health?.Test ?? ['NONE'];
      if (i.target === 'worker') expect(test).toEqual(['CMD', 'node', '/srv/cnsn/healthcheck.mjs']);
      if (i.target === 'dashboard') expect(test.join(' ')).toContain('/api/health');
      if (i.target === 'driver') expect(test).toEqual(['NONE']);
    }
    // Cached twice: a tarball in the cache directory, the image in podman's storage, so a second
    // build neither runs debootstrap nor imports.
    expect(existsSync(join(build.base.cacheDir, `cnsn-base-${build.base.key}.tar`))).toBe(true);
    expect(secondBaseLookup()).toMatchObject({ image: build.base.image, made: 'storage' });
  });

  it('runs the manifests’ arguments through the image’s entry point, as the non-root user uid 1000', async () => {
    for (const [short, args] of [
      ['w1', WORKER_ARGS],
      ['w2', WORKER_ARGS],
      ['dashboard', DASHBOARD_ARGS],
    ] as const)
      await expectProcess(await lab.inspect<number>(short, '.State.Pid'), args, short);
  });

  it('the dashboard answers with its token and refuses without', async () => {
    const get = (path: string, token?: string) =>
      fetch(`${dashboard}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await get('/api/health')).status).toBe(200);
    for (const path of ['/api/status', '/metrics', '/queues/']) {
      expect((await get(path)).status, path).toBe(401);
      expect((await get(path, 'wrong')).status, path).toBe(401);
    }
    const status = await get('/api/status', TOKEN);
    expect(status.status).toBe(200);
    const { workers } = (await status.json()) as { workers: Array<{ id: string; backend: string }> };
    expect(workers.map((w) => w.id).sort()).toEqual([workerId('w1'), workerId('w2')]);
    expect(workers.map((w) => w.backend)).toEqual(['fused', 'fused']);
    // bull-board's page and one of its scripts, served from node_modules/@bull-board/ui in the image.
    const board = await get('/queues/', TOKEN);
    expect(board.status).toBe(200);
    const script = /src="(static\/[^"]+\.js)"/.exec(await board.text())?.[1];
    expect(script).toBeTruthy();
    expect((await get(`/queues/${script as string}`, TOKEN)).status).toBe(200);
    expect((await get('/metrics', TOKEN)).status).toBe(200);
  });

  it('a driver container’s run on the two worker containers gives the in-process digest', async () => {
    const batches = [0, 1, 2].map((i) => testBatch([4, 64, 7, 7], 60 + i));
    const files = await writeBatches(data, 'small', batches);
    const json = await drive('driver-small', ['--input', ...files, '--seed', '7']);
    const want = await expectedDigest(batches, 7, { crop: 'both', chan: true }, selfnorm(7));
    expect(json).toMatchObject({ batches: 3, delivered: 3, failed: 0, dataPlane: 'direct', digest: want });
  });

  it('podman stop of a worker mid-run: it finishes or hands back its batches, exits 0, and the run delivers every batch once', async () => {
    const shape: Shape4 = [16, 64, 28, 28];
    const distinct = [0, 1, 2, 3].map((i) => testBatch(shape, 70 + i));
    const batches = Array.from({ length: 120 }, (_, k) => distinct[k % 4] as (typeof distinct)[number]);
    const files = await writeBatches(data, 'long', distinct, batches.length);
    const run = `images-long-${lab.id}`;
    const args = ['--input', ...files, '--seed', '11', '--run-id', run];
    const driving = drive('driver-long', args);
    driving.catch(() => undefined); // awaited below; a failure before then is the test's own
    // Mid-run, read in Redis: batches delivered but not all, and more batches active than one
    // worker's slots hold, so the worker about to be stopped holds at least one.
    let at = { delivered: 0, active: 0, waiting: 0 };
    await waitUntil(
      async () => {
        const r = (await redis.multi().hget(keys.run(run), 'delivered').llen(ACTIVE).llen(WAIT).exec()) ?? [];
        at = { delivered: Number(r[0]?.[1] ?? 0), active: Number(r[1]?.[1]), waiting: Number(r[2]?.[1]) };
        return at.delivered >= 2 && at.active > CONCURRENCY;
      },
      120_000,
      'the run under way with both workers busy',
    );
    await expectProcess(await lab.inspect<number>('driver-long', '.State.Pid'), driverArgs(args), 'driver');
    const t0 = performance.now();
    await podman(['stop', '-t', String(WORKER_GRACE_SECONDS), lab.container('w1')]);
    const stopMs = performance.now() - t0;
    const after = Number(await redis.hget(keys.run(run), 'delivered'));
    figures.stop = { seconds: seconds(stopMs), at, deliveredWhenGone: after, of: batches.length };
    expect(after, 'the run was still going when the worker had gone').toBeLessThan(batches.length);
    expect(await lab.inspect<number>('w1', '.State.ExitCode')).toBe(0);
    expect(await live()).not.toContain(workerId('w1'));
    const log = await lab.logs('w1');
    expect(log).toMatch(/"signal":"SIGTERM".*signal received/);
    expect(log).toMatch(/stopping: finishing the batches in hand[\s\S]*worker stopped/);
    figures.stop = { ...(figures.stop as object), handedBack: log.includes('handing them back') };

    const json = await driving;
    const want = await expectedDigest(batches, 11, { crop: 'both', chan: true }, selfnorm(11));
    expect(json).toMatchObject({ batches: 120, delivered: 120, failed: 0, digest: want });
  }, 300_000);

  it('the packages the bundles load at run time are in the images (tfjs-wasm, canvas, the font)', async () => {
    const [file] = await writeBatches(data, 'pkg', [testBatch([2, 8, 16, 16], 5)]);
    const sh = (img: string, script: string) =>
      lab.run(`sh-${img}`, image(img), ['-c', script], {
        wait: true,
        options: ['--rm', '--entrypoint', '/bin/sh', ...HARDENED, '-v', `${data}:/data:ro`],
      });
    const bench = await sh(
      'cnsn-worker',
      '/srv/cnsn/entrypoint.sh cnsn bench kernel --backend tfjs-wasm --shape 2,4,7,7 --iters 1',
    );
    expect(JSON.parse(bench.trim().split('\n').pop() as string)).toMatchObject({ backend: 'tfjs-wasm' });
    const preview = await sh(
      'cnsn-driver',
      `/srv/cnsn/entrypoint.sh cnsn preview --features ${file as string} --out /tmp/p.png >&2 && od -An -c -N4 /tmp/p.png`,
    );
    expect(preview).toContain('P   N   G');
  });

  it('the health check turns unhealthy when the worker’s Redis is gone, healthy again after', async () => {
    const check = async (short: string) =>
      (await podmanStatus(['healthcheck', 'run', lab.container(short)])).code;
    expect(await check('w2')).toBe(0);
    expect(await check('dashboard')).toBe(0);
    await podman(['stop', lab.container('redis')]);
    const t0 = performance.now();
    // The worker's verdict: its last heartbeat grew older than CNSN_HEALTH_MAX_AGE (5 s here).
    await waitUntil(async () => (await check('w2')) === 1, 60_000, 'the worker unhealthy');
    figures.unhealthyAfterSeconds = seconds(performance.now() - t0);
    await waitUntil(async () => (await check('dashboard')) === 1, 60_000, 'the dashboard unhealthy');
    const logs = await lab.inspect<Array<{ ExitCode: number; Output: string }>>('w2', '.State.Health.Log');
    expect(logs.at(-1)?.Output).toMatch(/unhealthy: last heartbeat \d+ s ago \(\/tmp\/cnsn-health\)/);
    await podman(['start', lab.container('redis')]);
    const t1 = performance.now();
    await waitUntil(async () => (await check('w2')) === 0, 60_000, 'the worker healthy again');
    figures.healthyAgainSeconds = seconds(performance.now() - t1);
    await waitUntil(async () => (await check('dashboard')) === 0, 60_000, 'the dashboard healthy again');
  }, 180_000);
});

/** The kernel's view of a container's main process: uid 1000 throughout, the manifest's arguments. */
async function expectProcess(pid: number, args: readonly string[], what: string): Promise<void> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  expect(/^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/), what).toEqual(['1000', '1000', '1000', '1000']);
  const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
  expect(cmdline, what).toEqual(['node', `/srv/cnsn/app/${args[0] as string}.mjs`, ...args.slice(1)]);
}
