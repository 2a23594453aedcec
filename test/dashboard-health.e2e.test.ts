import { LocalRedis } from '@cnsn/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardProcess } from './support/index.js';

let redis: LocalRedis;
let dashboard: DashboardProcess;

beforeAll(async () => {
  redis = await LocalRedis.start();
  dashboard = await DashboardProcess.start({ redisUrl: redis.url, prefix: '{cnsn}', queue: 'augment' });
});

afterAll(async () => {
  redis?.thaw();
  await dashboard?.stop();
  await redis?.dispose();
});

describe('the dashboard health check', () => {
  it('answers 503 within seconds while Redis hangs, and 200 again once it answers', async () => {
    expect((await fetch(`${dashboard.url}/api/health`)).status).toBe(200);
    redis.freeze();
    const t0 = performance.now();
    const hung = await fetch(`${dashboard.url}/api/health`, { signal: AbortSignal.timeout(10_000) });
    const waited = performance.now() - t0;
    expect(hung.status).toBe(503);
    expect(((await hung.json()) as { error: string }).error).toContain('did not answer PING');
    // A probe with a 3 s timeout (the image's health check) gets its answer.
    expect(waited).toBeLessThan(3000);
    redis.thaw();
    expect((await fetch(`${dashboard.url}/api/health`)).status).toBe(200);
  });
});
