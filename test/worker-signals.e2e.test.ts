import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { PipelineEnv, testBatch, waitUntil } from './support/index.js';

/** True once nothing answers on the server's port (the fault struck). */
async function redisIsGone(url: string): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return false;
  } catch {
    return true;
  } finally {
    client.disconnect();
  }
}

describe('a worker whose Redis is gone stops on SIGTERM and SIGINT', () => {
  let env: PipelineEnv;
  afterEach(() => env.dispose());

  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s with nothing in hand: it exits 0 at once',
    async (signal) => {
      env = await PipelineEnv.start();
      const [worker] = await env.startWorkers(1);
      await env.redis.kill();
      expect(await redisIsGone(env.redis.url)).toBe(true);
      const t0 = Date.now();
      worker?.child.kill(signal);
      expect(await worker?.exited, worker?.log).toBe(0);
      // "At once": no wait for batches, none for a Redis that cannot answer (bound generous for CI).
      expect(Date.now() - t0).toBeLessThan(8000);
      expect(worker?.log).toContain('worker stopped');
    },
    60_000,
  );

  it('SIGTERM with a batch in hand whose completion cannot be written: it hands the batch back and exits within its bound', async () => {
    env = await PipelineEnv.start({ plane: 'redis' });
    const [worker] = await env.startWorkers(1, { env: { CNSN_FAULT_DELAY_MS: '120000' } });
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 1, maxInFlight: 2 });
    const b = testBatch([2, 8, 7, 7], 1);
    await run.enqueue(b.data, b.shape);
    // The worker holds the batch (it says so) before Redis goes.
    await waitUntil(
      () => /fault: holding batch 0 of run \S+ at stage compute/.test(worker?.log ?? ''),
      60_000,
    );
    await env.redis.kill();
    expect(await redisIsGone(env.redis.url)).toBe(true);
    const t0 = Date.now();
    worker?.child.kill('SIGTERM');
    expect(await worker?.exited, worker?.log).toBe(0);
    // The stop waits 10 s for the batch in hand, then hands it back (bound generous for CI).
    expect(Date.now() - t0).toBeLessThan(25_000);
    expect(worker?.log).toMatch(/the batches in hand could not be finished in time .*handing them back/);
  }, 90_000);
});
