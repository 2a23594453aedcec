import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Shape4 } from '@cnsn/kernels';
import type { PipelineRun } from '@cnsn/pipeline';
import { formatNpy, Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardProcess, PipelineEnv, runCnsn, testBatch, which } from './support/index.js';

const promtool = which('promtool');

const TOKEN = 'dash-test-token';
const SHAPE: Shape4 = [4, 8, 7, 7];
let env: PipelineEnv;
let dashboard: DashboardProcess;
let run: PipelineRun;
const auth = { Authorization: `Bearer ${TOKEN}` };

async function waitFor(check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  env = await PipelineEnv.start();
  await env.startWorkers(1);
  dashboard = await DashboardProcess.start({
    redisUrl: env.redis.url,
    prefix: env.prefix,
    queue: env.queue,
    token: TOKEN,
  });
  const pipeline = await env.pipeline();
  // The redis plane: the test damages a batch's blob in Redis.
  run = await pipeline.openRun({ runId: 'dash-run', seed: 1, onError: 'skip', dataPlane: 'redis' });
  for (let i = 0; i < 6; i++) {
    const b = testBatch(SHAPE, i);
    await run.enqueue(b.data, b.shape);
  }
  // Batch 6: its blob is corrupted before a worker sees it, so it fails.
  const keys = new Keyspace(env.prefix);
  const redis = new Redis(env.redis.url);
  await env.stopWorkers();
  const bad = testBatch(SHAPE, 6);
  await run.enqueue(bad.data, bad.shape);
  const good = await redis.getBuffer(keys.input(run.id, 6));
  await redis.set(keys.input(run.id, 6), good?.subarray(0, 100) ?? '');
  await redis.set('dash-test-good-blob', good ?? '');
  redis.disconnect();
  await env.startWorkers(1);
  const pipelineStatus = await env.pipeline();
  await waitFor(async () => (await pipelineStatus.status()).runs[0]?.counters.failed === 1);
  // Hand two batches to the driver; the rest wait in Redis, in order.
  const it = run.results();
  await it.next();
  await it.next();
  await it.return(undefined);
});
afterAll(async () => {
  await dashboard.stop();
  await env.dispose();
});

describe('the dashboard server', () => {
  it("the API's figures are the run's", async () => {
    const res = await fetch(`${dashboard.url}/api/status`, { headers: auth });
    expect(res.status).toBe(200);
    const s = (await res.json()) as {
      runs: Array<{
        run: string;
        inFlight: number;
        reorderBuffer: number;
        counters: { enqueued: number; delivered: number; failed: number };
      }>;
      workers: Array<{ backend: string }>;
      recentFailures: Array<{ run: string; seq: number; reason: string }>;
    };
    expect(s.runs).toHaveLength(1);
    expect(s.runs[0]).toMatchObject({
      run: 'dash-run',
      dataPlane: 'redis',
      inFlight: 5,
      reorderBuffer: 5,
      counters: { enqueued: 7, delivered: 2, failed: 1 },
    });
    expect(s.workers.map((w) => w.backend)).toEqual(['fused']);
    expect(s.recentFailures[0]).toMatchObject({ run: 'dash-run', seq: 6 });
    expect(s.recentFailures[0]?.reason).toMatch(/corrupt tensor blob/);
  });

  it('refuses a missing or wrong token on pages, API and /metrics; a browser can log in once', async () => {
    for (const path of ['/api/status', '/metrics', '/queues/api/queues']) {
      expect((await fetch(`${dashboard.url}${path}`)).status, path).toBe(401);
      expect(
        (await fetch(`${dashboard.url}${path}`, { headers: { Authorization: 'Bearer nope' } })).status,
        path,
      ).toBe(401);
    }
    // Only the health check answers without a token, and says nothing but whether Redis answers.
    const health = await fetch(`${dashboard.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    const page = await fetch(`${dashboard.url}/`, { headers: { Accept: 'text/html' } });
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('<form method="post" action="/login">');
    const retry = await fetch(`${dashboard.url}/api/runs/dash-run/batches/6/retry`, { method: 'POST' });
    expect(retry.status).toBe(401);
    const login = await fetch(`${dashboard.url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ token: TOKEN }),
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/cnsn_token=.*HttpOnly.*SameSite=Strict/i);
    const withCookie = await fetch(`${dashboard.url}/`, { headers: { Cookie: cookie.split(';')[0] ?? '' } });
    expect(withCookie.status).toBe(200);
    expect(await withCookie.text()).toContain('cnsn <span>pipeline</span>');
  });

  it('serves Prometheus metrics prefixed cnsn_', async () => {
    const text = await (await fetch(`${dashboard.url}/metrics`, { headers: auth })).text();
    expect(text).toContain('cnsn_run_batches_delivered_total{run="dash-run",plane="redis"} 2');
    expect(text).toContain('cnsn_run_batches_enqueued_total{run="dash-run",plane="redis"} 7');
    expect(text).toMatch(/cnsn_run_tensor_input_bytes_total\{run="dash-run",plane="redis"\} \d+/);
    expect(text).toContain('# TYPE cnsn_run_batches_delivered_total counter');
    expect(text).toMatch(/cnsn_worker_batches_total\{worker="[^"]+",host="[^"]+",backend="fused"\} \d+/);
    expect(text).toMatch(/cnsn_worker_kernel_seconds\{[^}]+\} [\d.e-]+/);
    // Each worker's memory and the runs it holds (a pool that serves for weeks is watched by these).
    expect(text).toMatch(/cnsn_worker_resident_memory_bytes\{[^}]+\} [1-9][\d.e+]*/);
    expect(text).toMatch(/cnsn_worker_heap_used_bytes\{[^}]+\} [1-9][\d.e+]*/);
    expect(text).toMatch(/cnsn_worker_runs_held\{[^}]+\} \d+/);
    expect(text).toMatch(/cnsn_redis_used_memory_bytes \d+/);
    expect(text).toMatch(/cnsn_queue_jobs\{queue="[^"]+",state="failed"\} 1/);
    expect(text).toContain('# TYPE cnsn_batch_latency_seconds histogram');
  });

  it.runIf(promtool)(
    '/metrics passes `promtool check metrics` (base units, counters named _total)',
    async () => {
      const text = await (await fetch(`${dashboard.url}/metrics`, { headers: auth })).text();
      const r = spawnSync(promtool as string, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
      expect(r.status).toBe(0);
    },
  );
  it.skipIf(promtool)(
    'promtool is not installed (apt-get install prometheus): /metrics names not checked',
    () => {
      expect(promtool).toBeNull();
    },
  );

  it('bull-board is mounted in the same server', async () => {
    const res = await fetch(`${dashboard.url}/queues/api/queues`, { headers: auth });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: Array<{ name: string }> };
    expect(body.queues.map((q) => q.name)).toEqual([env.queue]);
  });

  it('a read-only dashboard refuses retries', async () => {
    const ro = await DashboardProcess.start({
      redisUrl: env.redis.url,
      prefix: env.prefix,
      queue: env.queue,
      readOnly: true,
    });
    try {
      const res = await fetch(`${ro.url}/api/runs/dash-run/batches/6/retry`, { method: 'POST' });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe('the dashboard is read-only');
    } finally {
      await ro.stop();
    }
  });

  it('refuses to serve off loopback without a token', async () => {
    const { runApp } = await import('./support/index.js');
    const r = await runApp(
      'apps/dashboard/src/main.ts',
      ['--redis', env.redis.url, '--host', '0.0.0.0', '--port', '0'],
      { env: { CNSN_DASHBOARD_TOKEN: '' } },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refusing to serve on 0.0.0.0 without a token: set CNSN_DASHBOARD_TOKEN');
  });
});

describe('the dashboard in a browser (Debian Chromium, headless)', () => {
  it('logs in, shows the run advancing and the worker with its backend, retries a failed batch; saves a screenshot', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(dashboard.url);
      await page.fill('input[name=token]', TOKEN);
      await page.click('button');
      await page.waitForSelector('#runs td:has-text("dash-run")');
      await page.waitForSelector('#workers td:has-text("fused")');
      const delivered = async (): Promise<string> =>
        (await page.locator('#runs tbody tr td').nth(5).textContent()) ?? '';
      expect(await delivered()).toBe('2');
      // The driver takes two more: the page follows without a reload.
      const it2 = run.results();
      await it2.next();
      await it2.next();
      await it2.return(undefined);
      await page.waitForFunction(
        () => document.querySelectorAll('#runs tbody tr td')[5]?.textContent === '4',
      );
      // Batch 6 failed (corrupt blob): put the right bytes back, then retry it from the page.
      const redis = new Redis(env.redis.url);
      const good = await redis.getBuffer('dash-test-good-blob');
      await redis.set(new Keyspace(env.prefix).input(run.id, 6), good ?? '');
      redis.disconnect();
      await page.waitForSelector('#failures button[data-seq="6"]');
      await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true });
      await page.click('#failures button[data-seq="6"]');
      await page.waitForSelector('#toast:has-text("batch 6 of dash-run queued again")');
      await page.waitForFunction(() => !document.querySelector('#failures button[data-seq="6"]'), undefined, {
        timeout: 20_000,
      });
      // The run now gets batch 6 augmented instead of skipping it.
      const rest = [];
      for await (const b of run.results()) {
        rest.push(b.seq);
        if (b.seq === 6) break;
      }
      expect(rest).toEqual([4, 5, 6]);
      expect(run.skipped).toEqual([]);
      await page.screenshot({ path: 'test-output/dashboard-after-retry.png', fullPage: true });
    } finally {
      await browser.close();
    }
  });
});

describe('previews a driver publishes (--preview-every K)', () => {
  it('the dashboard serves the latest one of a run, and says when there is none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cnsn-dash-preview-'));
    try {
      // Batch 2 holds a NaN, so the run fails there and stays in Redis for the dashboard to show.
      const batches = [testBatch(SHAPE, 30), testBatch(SHAPE, 31), testBatch(SHAPE, 32)];
      (batches[2] as { data: Float32Array }).data[5] = Number.NaN;
      const files = batches.map((_, i) => join(dir, `p-${i}.npy`));
      await Promise.all(batches.map((b, i) => writeFile(files[i] as string, formatNpy(b.shape, b.data))));
      const r = await runCnsn([
        'run',
        '--input',
        ...files,
        '--run-id',
        'preview-run',
        '--preview-every',
        '1',
        '--max-in-flight',
        '1',
        '--redis',
        env.redis.url,
        '--prefix',
        env.prefix,
        '--queue',
        env.queue,
        '--no-progress',
      ]);
      expect(r.code, r.stderr).toBe(1);
      const res = await fetch(`${dashboard.url}/api/runs/preview-run/preview.png`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/png');
      const png = Buffer.from(await res.arrayBuffer());
      expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
      const status = (await (await fetch(`${dashboard.url}/api/status`, { headers: auth })).json()) as {
        runs: Array<{ run: string; counters: { previewSeq: number | null } }>;
      };
      expect(status.runs.find((x) => x.run === 'preview-run')?.counters.previewSeq).toBe(1);
      const none = await fetch(`${dashboard.url}/api/runs/dash-run/preview.png`, { headers: auth });
      expect(none.status).toBe(404);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
