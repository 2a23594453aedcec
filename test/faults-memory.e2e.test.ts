import { type Shape4 } from '@cnsn/kernels';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@cnsn/pipeline';
import { digestOf, expectedDigest, PipelineEnv, testBatch, waitUntil } from './support/index.js';

// A small Redis: 40 MiB, noeviction (as BullMQ requires). Batches of 1.6 MB.
const SHAPE: Shape4 = [8, 64, 28, 28];
const crossnorm = { crop: 'both', chan: true } as const;
// On the redis plane, where the tensors live in Redis (a direct-plane batch writes only its job, a
// few KiB, so the same ballast leaves it room).
describe.each(['redis'] as const)('Redis full, on the %s plane', (plane) => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start({ args: ['--maxmemory', '40mb'], plane });
  });
  afterAll(() => env.dispose());

  it('Redis out of memory: enqueue waits without half-writing anything, and the run goes on once memory frees', async () => {
    const redis = new Redis(env.redis.url);
    // Something else holds most of the memory.
    const ballast = await fill(redis, 6);
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_: object, message: string) => void warnings.push(message) };
    const pipeline = await env.pipeline({ logger });
    const run = await pipeline.openRun({ seed: 3, crossnorm, maxInFlight: 32 });
    const batches = Array.from({ length: 12 }, (_, i) => testBatch(SHAPE, 700 + i));
    let enqueued = 0;
    const producing = (async () => {
      for (const b of batches) {
        await run.enqueue(b.data, b.shape);
        enqueued++;
      }
      await run.end();
    })();
    // Stuck on memory (the driver says so): some batches are in, the rest wait.
    await waitUntil(() => warnings.some((w) => w.includes('out of memory')), 60_000, 'the OOM wait');
    expect(enqueued).toBeGreaterThan(0);
    expect(enqueued).toBeLessThan(batches.length);
    const jobs = await pipeline.queue.getJobCounts('waiting');
    expect(jobs.waiting).toBe(enqueued);
    await redis.del(...ballast);
    await env.startWorkers(1);
    const out: Float32Array[] = [];
    for await (const r of run.results()) out.push(r.data.slice());
    await producing;
    await run.close();
    redis.disconnect();
    expect(out).toHaveLength(batches.length);
    expect(digestOf(out)).toBe(await expectedDigest(batches, 3, crossnorm, null));
  });

  it('with a bounded wait, enqueue fails with a clear message naming the batch', async () => {
    await env.stopWorkers();
    const redis = new Redis(env.redis.url);
    const ballast = await fill(redis, 2);
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 3, crossnorm, oomWaitMs: 500 });
    const b = testBatch(SHAPE, 1);
    const err = await (async () => {
      for (let i = 0; i < 4; i++) await run.enqueue(b.data, b.shape);
    })().catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /batch \d refused at enqueue: Redis is out of memory \(maxmemory reached\) and did not free any within 500 ms/,
    );
    await run.close();
    await redis.del(...ballast);
    redis.disconnect();
  });
});

/**
 * Other data fills Redis (1 MiB keys) until it refuses more, then `freeMb` of it goes: a run can be
 * opened, a few batches fit. Returns the ballast keys.
 */
async function fill(redis: Redis, freeMb: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < 200; i++) {
    try {
      await redis.set(`ballast:${i}`, Buffer.alloc(1024 * 1024, 1));
      keys.push(`ballast:${i}`);
    } catch {
      break;
    }
  }
  await redis.del(...keys.splice(keys.length - freeMb));
  return keys;
}
