import { type Shape4 } from '@cnsn/kernels';
import type { DeliveredBatch, PipelineRun } from '@cnsn/pipeline';
import { jobId, Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { digestOf, expectedDigest, PipelineEnv, testBatch } from './support/index.js';

const SHAPE: Shape4 = [4, 8, 7, 7];
const crossnorm = { crop: 'both', chan: true } as const;
const batches = Array.from({ length: 12 }, (_, i) => testBatch(SHAPE, 200 + i));

async function collect(
  run: PipelineRun,
  input = batches,
): Promise<{ out: DeliveredBatch[]; longestStallMs: number }> {
  const producing = (async () => {
    for (const b of input) await run.enqueue(b.data, b.shape);
    await run.end();
  })();
  const out: DeliveredBatch[] = [];
  let last = Date.now();
  let longestStallMs = 0;
  for await (const r of run.results()) {
    longestStallMs = Math.max(longestStallMs, Date.now() - last);
    last = Date.now();
    out.push({ ...r, data: r.data.slice() });
  }
  await producing;
  return { out, longestStallMs };
}

let env: PipelineEnv;
beforeEach(async () => {
  env = await PipelineEnv.start({ appendonly: true });
});
afterEach(() => env.dispose());

it('a worker killed with SIGKILL while it holds a batch: another redoes it after the stall, delivered once, in order', async () => {
  const delay = { CNSN_FAULT_DELAY_MS: '400' };
  const [victim] = await env.startWorkers(1, { env: delay, tag: 'victim' });
  await env.startWorkers(1, { env: delay, tag: 'survivor' });
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 9, crossnorm, maxInFlight: 12 });
  const collecting = collect(run);
  // Both workers hold a batch (400 ms each) once two jobs are active: kill one of them then.
  for (let i = 0; i < 200 && (await pipeline.queue.getActiveCount()) < 2; i++)
    await new Promise((r) => setTimeout(r, 25));
  const held = await pipeline.queue.getActive();
  expect(held.length).toBe(2);
  const killedAt = Date.now();
  await victim?.kill();
  const { out, longestStallMs } = await collecting;
  await run.close();
  expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
  expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 9, crossnorm, null));
  // Every batch came from the survivor after the kill; the held one was redone by it.
  const stalled = await Promise.all(held.map((j) => pipeline.queue.getJob(j.id as string)));
  expect(stalled.some((j) => (j?.stalledCounter ?? 0) >= 1 || (j?.attemptsStarted ?? 0) >= 2)).toBe(true);
  // Recovery is bounded by the lock settings (8 s lock, 4 s stall check), not BullMQ's 30 s default.
  expect(longestStallMs).toBeLessThan(20_000);
  expect(Date.now() - killedAt).toBeLessThan(25_000);
});

it('all workers gone for a while, new ones later: the run waits, then completes', async () => {
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 2, crossnorm, maxInFlight: 12 });
  const collecting = collect(run);
  await new Promise((r) => setTimeout(r, 1500));
  expect(run.delivered).toBe(0);
  await env.startWorkers(2);
  const { out } = await collecting;
  await run.close();
  expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
  expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 2, crossnorm, null));
});

it('Redis killed and restarted mid-run (AOF on): driver, workers and collector reconnect; lost writes are enqueued again', async () => {
  await env.startWorkers(2, { env: { CNSN_FAULT_DELAY_MS: '60' } });
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 4, crossnorm, maxInFlight: 6 });
  const input = Array.from({ length: 30 }, (_, i) => testBatch(SHAPE, 300 + i));
  const collecting = collect(run, input);
  for (let i = 0; i < 400 && run.delivered < 8; i++) await new Promise((r) => setTimeout(r, 25));
  await env.redis.kill();
  await new Promise((r) => setTimeout(r, 1000));
  await env.redis.restart();
  const { out } = await collecting;
  await run.close();
  expect(out.map((b) => b.seq)).toEqual(input.map((_, i) => i));
  expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(input, 4, crossnorm, null));
});

it('a driver that stops mid-run resumes from its first batch not delivered (library API)', async () => {
  await env.startWorkers(2);
  const first = await env.pipeline();
  const run = await first.openRun({ runId: 'resumable', seed: 6, crossnorm, maxInFlight: 4 });
  const got: DeliveredBatch[] = [];
  const producing = (async () => {
    for (const b of batches) await run.enqueue(b.data, b.shape);
  })().catch(() => undefined);
  for await (const r of run.results()) {
    got.push({ ...r, data: r.data.slice() });
    if (got.length === 5) break;
  }
  await first.close(); // the driver goes away: the run stays in Redis, unfinished
  await producing;
  const second = await env.pipeline();
  const resumed = await second.openRun({ runId: 'resumable', resume: true });
  expect(resumed.nextSeq).toBe(5);
  const { out } = await collect(resumed, batches.slice(resumed.nextSeq));
  await resumed.close();
  const all = [...got, ...out];
  expect(all.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
  expect(digestOf(all.map((b) => b.data))).toBe(await expectedDigest(batches, 6, crossnorm, null));
});

it("writes Redis lost in a restart (appendfsync everysec) are enqueued again from the driver's cursor", async () => {
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 12, crossnorm, maxInFlight: 12 });
  const input = batches.slice(0, 6);
  for (const b of input) await run.enqueue(b.data, b.shape);
  await run.end();
  // As if the last second before a crash were lost: batch 2's blob and job, batch 4's blob.
  const keys = new Keyspace(env.prefix);
  const redis = new Redis(env.redis.url);
  await redis.del(keys.input(run.id, 2), keys.input(run.id, 4));
  await (await pipeline.queue.getJob(jobId(run.id, 2)))?.remove();
  redis.disconnect();
  await env.redis.stop();
  await env.redis.restart();
  const check = new Redis(env.redis.url);
  for (let i = 0; i < 200 && (await check.exists(keys.input(run.id, 2), keys.input(run.id, 4))) < 2; i++)
    await new Promise((r) => setTimeout(r, 50));
  expect(await check.exists(keys.input(run.id, 2), keys.input(run.id, 4))).toBe(2);
  expect(await pipeline.queue.getJob(jobId(run.id, 2))).toBeDefined();
  check.disconnect();
  await env.startWorkers(1);
  const out: Float32Array[] = [];
  for await (const r of run.results()) out.push(r.data.slice());
  await run.close();
  expect(digestOf(out)).toBe(await expectedDigest(input, 12, crossnorm, null));
});
