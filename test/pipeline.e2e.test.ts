import { defaultSelfNormParams, instanceMeanStd, type Shape4 } from '@cnsn/kernels';
import type { DeliveredBatch, PipelineRun } from '@cnsn/pipeline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, expectedDigest, PipelineEnv, TESTED_PLANES, testBatch } from './support/index.js';

const SHAPE: Shape4 = [8, 16, 7, 7];
const crossnorm = { crop: 'both', chan: true } as const;
const selfnorm = { mode: 'train' as const, params: defaultSelfNormParams(16, { seed: 3 }) };
const batches = Array.from({ length: 24 }, (_, i) => testBatch(SHAPE, i));

/** Enqueues every batch while collecting; returns what was delivered, in delivery order. */
async function runAll(
  run: PipelineRun,
  input: Array<{ data: Float32Array; shape: Shape4 }>,
): Promise<DeliveredBatch[]> {
  const producing = (async () => {
    for (const b of input) await run.enqueue(b.data, b.shape);
    await run.end();
  })();
  const out: DeliveredBatch[] = [];
  for await (const r of run.results()) out.push({ ...r, data: r.data.slice() });
  await producing;
  return out;
}

describe.each(TESTED_PLANES)('the pipeline with real worker processes, on the %s plane', (plane) => {
  let env: PipelineEnv;
  let expected: string;
  beforeAll(async () => {
    env = await PipelineEnv.start({ plane });
    expected = await expectedDigest(batches, 11, crossnorm, selfnorm);
  });
  afterAll(() => env.dispose());

  it('2 workers: every batch, in order, with the digest of an in-process computation of the same plans', async () => {
    await env.startWorkers(2);
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 11, crossnorm, selfnorm, maxInFlight: 6 });
    expect(run.dataPlane).toBe(plane);
    const out = await runAll(run, batches);
    await run.close();
    expect(out.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
    expect(out.every((b) => b.status === 'ok')).toBe(true);
    // Either plane moves every tensor byte through its own path: Redis holds none on the direct one.
    expect(run.planeBytes.in).toBeGreaterThanOrEqual(batches.length * 8 * 16 * 49 * 4);
    expect(digestOf(out.map((b) => b.data))).toBe(expected);
    // Each result carries its plan and, in train mode, the BatchNorm batch statistics.
    expect(out[3]?.plan).toMatchObject({ fires: true, crop: 'both' });
    expect((out[3]?.selfnormStats as { g: { mean: number[] } }).g.mean).toHaveLength(16);
    expect(new Set(out.map((b) => b.worker)).size).toBe(2);
  });

  it('leaves no key of a finished run in Redis, only BullMQ bookkeeping within its retention', async () => {
    const left = await env.pipelineKeysLeft();
    // Live workers' heartbeats are the only pipeline keys while workers run, besides each finished
    // run's small record (it expires; it tells a resume of the finished run what it delivered).
    const transient = (k: string): boolean =>
      k.startsWith(`${env.prefix}:worker`) || k.startsWith(`${env.prefix}:finished:`);
    expect(left.filter((k) => !transient(k))).toEqual([]);
    await env.stopWorkers();
    expect((await env.pipelineKeysLeft()).filter((k) => !k.startsWith(`${env.prefix}:finished:`))).toEqual(
      [],
    );
  });

  it('the "nothing left" check sees a tensor blob left behind on purpose', async () => {
    const client = new Redis(env.redis.url);
    try {
      const leaked = env.keys.input('leaky-run', 3);
      await client.set(leaked, 'x');
      expect(await env.pipelineKeysLeft()).toContain(leaked);
      await client.del(leaked);
      expect(await env.pipelineKeysLeft()).not.toContain(leaked);
    } finally {
      client.disconnect();
    }
  });

  it("a run id used again after its finished record expired: new job ids, none of the earlier run's jobs met", async () => {
    await env.startWorkers(1);
    const pipeline = await env.pipeline();
    const input = batches.slice(0, 5);
    const want = await expectedDigest(input, 11, crossnorm, selfnorm);
    const runOnce = async (): Promise<{ out: DeliveredBatch[]; incarnation: string | undefined }> => {
      const run = await pipeline.openRun({ runId: 'again', seed: 11, crossnorm, selfnorm });
      const out = await runAll(run, input);
      await run.close();
      return { out, incarnation: run.spec.incarnation };
    };
    const first = await runOnce();
    // While its record is kept the id is refused; once it expired, the id makes a new run.
    await expect(pipeline.openRun({ runId: 'again' })).rejects.toThrow(
      /run again finished .*choose another run id/,
    );
    const client = new Redis(env.redis.url);
    await client.del(env.keys.finished('again'));
    const second = await runOnce();
    const ids = (await pipeline.queue.getJobs(['completed']))
      .map((j) => j.id)
      .filter((id) => id?.startsWith('again.'));
    client.disconnect();
    await env.stopWorkers();
    expect(second.incarnation).not.toBe(first.incarnation);
    // Each incarnation's five jobs, kept apart by their ids (BullMQ keeps completed jobs an hour).
    expect(ids.sort()).toEqual(
      [first.incarnation, second.incarnation]
        .flatMap((inc) => input.map((_, i) => `again.${inc}.${i}`))
        .sort(),
    );
    expect(digestOf(first.out.map((b) => b.data))).toBe(want);
    expect(digestOf(second.out.map((b) => b.data))).toBe(want);
  });

  it('a trainer resuming at batch 10 (start 10) gets bitwise the outputs batches 10..19 had in a run from 0; each (rank, epoch) a stream of its own', async () => {
    await env.startWorkers(2);
    const pipeline = await env.pipeline();
    const input = batches.slice(0, 20);
    const whole = await pipeline.openRun({ seed: 11, crossnorm, selfnorm, rank: 1, epoch: 2 });
    const fromZero = await runAll(whole, input);
    await whole.close();
    const resumed = await pipeline.openRun({ seed: 11, crossnorm, selfnorm, rank: 1, epoch: 2, start: 10 });
    expect(resumed.spec.stream).toEqual({ rank: 1, epoch: 2, start: 10 });
    const fromTen = await runAll(resumed, input.slice(10));
    await resumed.close();
    await env.stopWorkers();
    expect(fromTen.map((b) => b.seq)).toEqual(input.slice(10).map((_, i) => i));
    expect(digestOf(fromTen.map((b) => b.data))).toBe(digestOf(fromZero.slice(10).map((b) => b.data)));
    expect(fromTen[0]?.plan).toEqual(fromZero[10]?.plan);
    // Rank 1, epoch 2 is its own stream: as computed in process with it, not the historical one.
    const stream = { rank: 1, epoch: 2 };
    expect(digestOf(fromZero.map((b) => b.data))).toBe(
      await expectedDigest(input, 11, crossnorm, selfnorm, stream),
    );
    expect(digestOf(fromZero.map((b) => b.data))).not.toBe(
      await expectedDigest(input, 11, crossnorm, selfnorm),
    );
  });

  it('SelfNorm parameters changed at batch 5: from there on, bitwise a run opened with the new ones; each result names its version', async () => {
    await env.startWorkers(2);
    const pipeline = await env.pipeline();
    const input = batches.slice(0, 12);
    const updated = { mode: 'train' as const, params: defaultSelfNormParams(16, { seed: 99 }) };
    const changing = await pipeline.openRun({ seed: 11, crossnorm, selfnorm, maxInFlight: 4 });
    const feeding = (async () => {
      for (const [i, b] of input.entries()) {
        if (i === 5) expect(await changing.setSelfNorm(updated.params)).toBe(1);
        await changing.enqueue(b.data, b.shape);
      }
      await changing.end();
    })();
    const changed: DeliveredBatch[] = [];
    for await (const r of changing.results()) changed.push({ ...r, data: r.data.slice() });
    await feeding;
    await changing.close();
    const fresh = await pipeline.openRun({ seed: 11, crossnorm, selfnorm: updated });
    const reference = await runAll(fresh, input);
    await fresh.close();
    await env.stopWorkers();
    expect(changed.map((b) => b.selfnormVersion)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
    expect(digestOf(changed.slice(5).map((b) => b.data))).toBe(
      digestOf(reference.slice(5).map((b) => b.data)),
    );
    expect(digestOf(changed.slice(0, 5).map((b) => b.data))).toBe(
      await expectedDigest(input.slice(0, 5), 11, crossnorm, selfnorm),
    );
    // Both sets went with the runs.
    expect((await env.pipelineKeysLeft()).filter((k) => k.includes(':params:'))).toEqual([]);
  });

  it('returnStats: each batch comes with the mean and std of its CrossNorm output, per instance and channel, in float64', async () => {
    await env.startWorkers(1);
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 11, crossnorm, selfnorm: null, returnStats: true });
    const out = await runAll(run, batches.slice(0, 3));
    await run.close();
    await env.stopWorkers();
    for (const b of out) {
      const want = instanceMeanStd(b.data, b.shape as unknown as Shape4);
      expect(b.stats?.mean).toEqual(want.mean);
      expect(b.stats?.std).toEqual(want.std);
      expect(b.stats?.mean.length).toBe(8 * 16);
    }
    await expect(pipeline.openRun({ selfnorm, returnStats: true })).rejects.toThrow(
      /returnStats: .*open the run with selfnorm null/,
    );
  });

  it('16 concurrent enqueue callers: numbered in call order, every batch delivered once with its own data', async () => {
    await env.startWorkers(2);
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 11, crossnorm, selfnorm, maxInFlight: 6 });
    const input = batches.slice(0, 16);
    // Every call at once, none awaited before the next (a gateway or a multi-threaded feeder).
    const numbered = Promise.all(input.map((b) => run.enqueue(b.data, b.shape)));
    const ending = numbered.then(() => run.end());
    const out: DeliveredBatch[] = [];
    for await (const r of run.results()) out.push({ ...r, data: r.data.slice() });
    expect(await numbered).toEqual(input.map((_, i) => i));
    await ending;
    await run.close();
    await env.stopWorkers();
    expect(out.map((b) => b.seq)).toEqual(input.map((_, i) => i));
    expect(digestOf(out.map((b) => b.data))).toBe(await expectedDigest(input, 11, crossnorm, selfnorm));
  });

  it.each([
    [1, 1],
    [1, 4],
    [2, 4],
  ])('the same digest with %i worker(s) at concurrency %i', async (workers, concurrency) => {
    await env.startWorkers(workers, { concurrency });
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 11, crossnorm, selfnorm, maxInFlight: 8 });
    const out = await runAll(run, batches);
    await run.close();
    await env.stopWorkers();
    expect(digestOf(out.map((b) => b.data))).toBe(expected);
  });

  it('mixed batch sizes in one run (results complete out of order) still arrive in order', async () => {
    await env.startWorkers(2, { concurrency: 2 });
    const sizes = [32, 1, 16, 2, 32, 1, 8, 1, 24, 2];
    const mixed = sizes.map((n, i) => testBatch([n, 16, 7, 7], 100 + i));
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({
      seed: 5,
      crossnorm,
      selfnorm: { mode: 'eval', params: selfnorm.params },
    });
    const out = await runAll(run, mixed);
    await run.close();
    expect(out.map((b) => b.seq)).toEqual(sizes.map((_, i) => i));
    expect(out.map((b) => b.shape[0])).toEqual(sizes);
    expect(digestOf(out.map((b) => b.data))).toBe(
      await expectedDigest(mixed, 5, crossnorm, { mode: 'eval', params: selfnorm.params }),
    );
    await env.stopWorkers();
  });

  it('two runs at once share one pool, each with its own ordered stream', async () => {
    await env.startWorkers(2, { concurrency: 2 });
    const pipeline = await env.pipeline();
    const a = await pipeline.openRun({ seed: 1, crossnorm });
    const b = await pipeline.openRun({ seed: 2, crossnorm: { crop: 'neither', chan: false } });
    const [outA, outB] = await Promise.all([runAll(a, batches.slice(0, 12)), runAll(b, batches.slice(12))]);
    await a.close();
    await b.close();
    expect(outA.map((r) => r.seq)).toEqual([...Array(12).keys()]);
    expect(outB.map((r) => r.seq)).toEqual([...Array(12).keys()]);
    expect(digestOf(outA.map((r) => r.data))).toBe(
      await expectedDigest(batches.slice(0, 12), 1, crossnorm, null),
    );
    expect(digestOf(outB.map((r) => r.data))).toBe(
      await expectedDigest(batches.slice(12), 2, { crop: 'neither', chan: false }, null),
    );
    await env.stopWorkers();
  });

  it('refuses at enqueue a batch larger than the maximum or with the wrong channel count', async () => {
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 1, selfnorm, maxBatchBytes: 20_000 });
    const big = testBatch([8, 16, 7, 7], 1);
    await expect(run.enqueue(big.data, big.shape)).rejects.toThrow(
      'batch 0 refused at enqueue: 25088 bytes exceeds the maximum batch size of 20000 bytes',
    );
    const wrong = testBatch([2, 8, 7, 7], 1);
    await expect(run.enqueue(wrong.data, wrong.shape)).rejects.toThrow(
      "batch 0 refused at enqueue: has 8 channels but the run's SelfNorm parameters are for 16",
    );
    await run.close();
  });

  it('workers exit 0 on SIGTERM and say so', async () => {
    const [w] = await env.startWorkers(1);
    expect(await w?.stop()).toBe(0);
    expect(w?.log).toContain('worker stopped');
    expect(w?.log).toMatch(/backend fused/);
  });
});

describe('runs on both planes share one pool', () => {
  it('a direct run and a redis run at once, each in order, each bitwise as computed in process', async () => {
    const env = await PipelineEnv.start();
    try {
      await env.startWorkers(2, { concurrency: 2 });
      const pipeline = await env.pipeline();
      const a = await pipeline.openRun({ seed: 1, crossnorm, dataPlane: 'direct' });
      const b = await pipeline.openRun({ seed: 1, crossnorm, dataPlane: 'redis' });
      expect([a.dataPlane, b.dataPlane]).toEqual(['direct', 'redis']);
      const [outA, outB] = await Promise.all([
        runAll(a, batches.slice(0, 12)),
        runAll(b, batches.slice(0, 12)),
      ]);
      await a.close();
      await b.close();
      const want = await expectedDigest(batches.slice(0, 12), 1, crossnorm, null);
      expect(digestOf(outA.map((r) => r.data))).toBe(want);
      expect(digestOf(outB.map((r) => r.data))).toBe(want);
    } finally {
      await env.dispose();
    }
  });
});
