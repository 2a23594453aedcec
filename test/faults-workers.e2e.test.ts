import { type Shape4 } from '@cnsn/kernels';
import type { DeliveredBatch, PipelineRun } from '@cnsn/pipeline';
import { jobId, Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  digestOf,
  expectedDigest,
  PipelineEnv,
  TESTED_PLANES,
  testBatch,
  waitUntil,
} from './support/index.js';

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

describe.each(TESTED_PLANES)('on the %s plane', (plane) => {
  beforeEach(async () => {
    env = await PipelineEnv.start({ appendonly: true, plane });
  });
  afterEach(() => env.dispose());

  it('workers SIGKILLed while they fetch, compute and send: the batches are redone, each delivered once, in order', async () => {
    // Three victims, each held at one stage of its first batch; killed there; a survivor redoes them.
    const victims = await Promise.all(
      (['fetch', 'compute', 'send'] as const).map(async (stage) => {
        const [w] = await env.startWorkers(1, {
          env: { CNSN_FAULT_DELAY_MS: '60000', CNSN_FAULT_STAGE: stage },
          tag: `victim-${stage}-`,
        });
        return w;
      }),
    );
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 9, crossnorm, maxInFlight: 12 });
    expect(run.dataPlane).toBe(plane);
    const collecting = collect(run);
    // Each victim says when it holds its batch at its stage (the send victim: with part of its
    // result sent); the kill comes after all three said so, never after a guessed time.
    await waitUntil(
      () => victims.every((v, i) => v?.log.includes(`at stage ${['fetch', 'compute', 'send'][i]}`)),
      60_000,
      'every victim to hold its batch at its stage',
    );
    const held = await pipeline.queue.getActive();
    expect(held.length).toBe(3);
    if (plane === 'direct') expect(victims[2]?.log).toContain('(result partly sent)');
    const killedAt = Date.now();
    await Promise.all(victims.flatMap((v) => (v ? [v.kill()] : [])));
    await env.startWorkers(1, { tag: 'survivor' });
    const { out, longestStallMs } = await collecting;
    await run.close();
    expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 9, crossnorm, null));
    // The held ones were redone after the stall.
    const redone = await Promise.all(held.map((j) => pipeline.queue.getJob(j.id as string)));
    for (const j of redone)
      expect(
        (j?.stalledCounter ?? 0) >= 1 || (j?.attemptsStarted ?? 0) >= 2,
        JSON.stringify({
          id: j?.id,
          stalled: j?.stalledCounter,
          started: j?.attemptsStarted,
          rv: j?.returnvalue,
        }),
      ).toBe(true);
    // Recovery is bounded by the lock settings (8 s lock, 4 s stall check), not BullMQ's 30 s default.
    expect(longestStallMs).toBeLessThan(25_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
  });

  it('all workers gone for a while, new ones later: the run waits, then completes', async () => {
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 2, crossnorm, maxInFlight: 12 });
    const collecting = collect(run);
    // The window is full and waits in the queue, with nobody to take it.
    await waitUntil(async () => (await pipeline.queue.getWaitingCount()) >= 12, 60_000, 'a full window');
    expect(run.delivered).toBe(0);
    await env.startWorkers(2);
    const { out } = await collecting;
    await run.close();
    expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(batches, 2, crossnorm, null));
  });

  it('Redis killed and restarted mid-run (AOF on): driver, workers and collector reconnect; lost writes are enqueued again', async () => {
    await env.startWorkers(2, { env: { CNSN_FAULT_DELAY_MS: '100' } });
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 4, crossnorm, maxInFlight: 6 });
    const input = Array.from({ length: 40 }, (_, i) => testBatch(SHAPE, 300 + i));
    const collecting = collect(run, input);
    await waitUntil(() => run.delivered >= 8, 60_000, '8 batches delivered');
    await env.redis.kill();
    // The fault struck mid-run: batches were in flight when Redis went.
    expect(run.delivered).toBeLessThan(input.length);
    expect(run.nextSeq).toBeGreaterThan(run.delivered);
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
    // As if the last second before a crash were lost: batch 2's job, and on the redis plane batch 2's
    // and batch 4's blobs (on the direct plane the driver holds the bytes, on shm its files do).
    const keys = new Keyspace(env.prefix);
    const redis = new Redis(env.redis.url);
    if (plane === 'redis') await redis.del(keys.input(run.id, 2), keys.input(run.id, 4));
    await (await pipeline.queue.getJob(jobId(run.id, 2, run.spec.incarnation)))?.remove();
    redis.disconnect();
    await env.redis.stop();
    await env.redis.restart();
    const check = new Redis(env.redis.url);
    const back = async (): Promise<boolean> =>
      (plane !== 'redis' || (await check.exists(keys.input(run.id, 2), keys.input(run.id, 4))) === 2) &&
      (await pipeline.queue.getJob(jobId(run.id, 2, run.spec.incarnation))) !== undefined;
    await waitUntil(back, 60_000, 'the lost job and blobs to be put back');
    check.disconnect();
    await env.startWorkers(1);
    const out: Float32Array[] = [];
    for await (const r of run.results()) out.push(r.data.slice());
    await run.close();
    expect(digestOf(out)).toBe(await expectedDigest(input, 12, crossnorm, null));
  });
});
