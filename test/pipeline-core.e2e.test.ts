import {
  type BatchContext,
  BlobConnection,
  listWorkers,
  loadScript,
  type ProcessedMeta,
  WorkerRuntime,
} from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanKeys } from './support/redis-keys.js';
import { PipelineEnv, testBatch, waitUntil } from './support/index.js';

let env: PipelineEnv;
let redis: Redis;
beforeAll(async () => {
  env = await PipelineEnv.start();
  redis = new Redis(env.redis.url);
});
afterAll(async () => {
  redis.disconnect();
  await env.dispose();
});

/** A stand-in for the augmentation (the pipeline knows nothing of the maths): it negates the batch. */
class SlowProcessor {
  readonly backend = 'test';
  readonly backendDetail = 'negates, slowly';
  started = 0;
  closed = 0;
  constructor(
    private readonly ms: number,
    private readonly closeError: Error | null = null,
  ) {}
  async process(
    input: { shape: number[]; data: Float32Array },
    _ctx: BatchContext,
    encode: (data: Float32Array, meta: ProcessedMeta) => Uint8Array[],
  ): Promise<Uint8Array[]> {
    this.started++;
    await new Promise((r) => setTimeout(r, this.ms));
    return encode(
      input.data.map((x) => -x),
      { plan: null, selfnormStats: null },
    );
  }
  isPermanent(): boolean {
    return false;
  }
  async close(): Promise<void> {
    this.closed++;
    if (this.closeError) throw this.closeError;
  }
}

function runtime(processor: SlowProcessor, id: string): WorkerRuntime {
  return new WorkerRuntime({
    redis: redis.duplicate({ maxRetriesPerRequest: null }),
    processor,
    prefix: env.prefix,
    queue: env.queue,
    id,
  });
}

describe('completion and failure records are idempotent (a reply lost to a disconnect may repeat them)', () => {
  it('a batch completed twice counts once', async () => {
    const keys = new Keyspace(env.prefix);
    const { lua, numberOfKeys } = loadScript('complete-4');
    await redis.hset(keys.run('idem'), 'spec', '{}');
    const args = [keys.run('idem'), keys.done('idem'), keys.timeline('idem'), keys.ready('idem'), 7, 1000, 0];
    expect(await redis.eval(lua, numberOfKeys, ...args)).toBe(1);
    expect(await redis.eval(lua, numberOfKeys, ...args)).toBe(0);
    expect(await redis.bitcount(keys.done('idem'))).toBe(1);
    expect(await redis.zcard(keys.timeline('idem'))).toBe(1);
    const fail = loadScript('fail-3');
    const record = JSON.stringify({ seq: 8, reason: 'bad', worker: 'w', at: 0 });
    const fargs = [keys.run('idem'), keys.failure('idem', 8), keys.ready('idem'), record, 8];
    expect(await redis.eval(fail.lua, fail.numberOfKeys, ...fargs)).toBe(1);
    expect(await redis.eval(fail.lua, fail.numberOfKeys, ...fargs)).toBe(0);
    expect(await redis.hget(keys.run('idem'), 'failed')).toBe('1');
  });

  it('the blob connection, which retries after a reconnect, refuses a command that is not idempotent', async () => {
    const blobs = await BlobConnection.open({ url: env.redis.url });
    try {
      await expect(blobs.command(['INCR', 'x'])).rejects.toThrow(/INCR is not idempotent/);
      expect(await blobs.command(['SET', 'x', 'y'])).toBe('OK');
    } finally {
      blobs.close();
    }
  });
});

describe.each(['direct', 'redis'] as const)(
  'a completion that comes after its run was removed (%s plane)',
  (plane) => {
    it('writes nothing: complete-4 returns -1, the worker discards its result, no key of the run comes back', async () => {
      const keys = new Keyspace(env.prefix);
      const removed = async (run: string): Promise<boolean> => (await redis.exists(keys.run(run))) === 0;
      let held: string | null = null;
      // The driver has the result once putResult returns (the direct plane hands it over first):
      // the worker is held there until its driver delivered the batch and removed the run.
      const worker = new WorkerRuntime({
        redis: redis.duplicate({ maxRetriesPerRequest: null }),
        processor: new SlowProcessor(0),
        prefix: env.prefix,
        queue: env.queue,
        id: `late-${plane}`,
        decoratePlane: (p) => ({
          kind: p.kind,
          fetchInput: (job, into) => p.fetchInput(job, into),
          hasResult: (job) => p.hasResult(job),
          discard: (job) => p.discard(job),
          close: () => p.close(),
          putResult: async (job, blob) => {
            await p.putResult(job, blob);
            held = job.run;
            await waitUntil(() => removed(job.run), 20_000, `run ${job.run} removed by its driver`);
          },
        }),
      });
      const recorded = new Promise<{ run: string; seq: number }>((r) => worker.once('batch', r));
      await worker.start();
      try {
        const pipeline = await env.pipeline();
        const run = await pipeline.openRun({ dataPlane: plane, wakeTimeoutMs: 100 });
        const b = testBatch([2, 4, 3, 3], 5);
        await run.enqueue(b.data, b.shape);
        await run.end();
        const out = [];
        for await (const r of run.results()) out.push(Array.from(r.data));
        expect(out).toEqual([Array.from(b.data.map((x) => -x))]);
        await run.close();
        expect(held, 'the worker was held after handing its result over').toBe(run.id);
        expect(await removed(run.id)).toBe(true);
        // The worker then records the batch, late: the run is gone, so nothing may be written.
        expect(await recorded).toMatchObject({ run: run.id, seq: 0 });
        const left = await scanKeys(env.redis.url, [keys.runPattern(run.id), keys.blobPattern(run.id)]);
        expect(left, 'keys of the removed run written by the late completion').toEqual([]);
        // The scripts themselves, called again as a retried reply would: -1, and still nothing written.
        const complete = loadScript('complete-4');
        const args = [
          keys.run(run.id),
          keys.done(run.id),
          keys.timeline(run.id),
          keys.ready(run.id),
          0,
          Date.now(),
          0,
        ];
        expect(await redis.eval(complete.lua, complete.numberOfKeys, ...args)).toBe(-1);
        const fail = loadScript('fail-3');
        const record = JSON.stringify({ seq: 0, reason: 'late', worker: 'w', at: 0 });
        const fargs = [keys.run(run.id), keys.failure(run.id, 0), keys.ready(run.id), record, 0];
        expect(await redis.eval(fail.lua, fail.numberOfKeys, ...fargs)).toBe(-1);
        expect(await scanKeys(env.redis.url, [keys.runPattern(run.id)])).toEqual([]);
      } finally {
        await worker.stop();
      }
    });
  },
);

describe('the worker runtime lifecycle', () => {
  it('a second stop() waits for the drain like the first; the batch in hand is finished and delivered', async () => {
    const processor = new SlowProcessor(600);
    const worker = runtime(processor, 'life-1');
    await worker.start();
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ maxInFlight: 2 });
    const b = testBatch([2, 4, 3, 3], 1);
    await run.enqueue(b.data, b.shape);
    await run.end();
    while (processor.started === 0) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    const first = worker.stop();
    const second = worker.stop();
    await second;
    expect(Date.now() - t0).toBeGreaterThan(300); // it waited for the batch in hand
    await first;
    expect(worker.currentState).toBe('stopped');
    expect(processor.closed).toBe(1);
    const out = [];
    for await (const r of run.results()) out.push(Array.from(r.data));
    expect(out).toEqual([Array.from(b.data.map((x) => -x))]);
    await run.close();
  });

  it('refuses a second start; a stop during start ends stopped', async () => {
    const worker = runtime(new SlowProcessor(0), 'life-2');
    const starting = worker.start();
    await expect(worker.start()).rejects.toThrow('start() called when starting');
    const stopping = worker.stop();
    await starting;
    await stopping;
    expect(worker.currentState).toBe('stopped');
  });

  it('a cleanup step that fails does not keep the others from running', async () => {
    const processor = new SlowProcessor(0, new Error('device lost'));
    const worker = runtime(processor, 'life-3');
    await worker.start();
    expect((await listWorkers(redis, new Keyspace(env.prefix))).map((w) => w.id)).toContain('life-3');
    await expect(worker.stop()).rejects.toThrow('release the backend: device lost');
    // The heartbeat went anyway, and the worker is stopped.
    expect((await listWorkers(redis, new Keyspace(env.prefix))).map((w) => w.id)).not.toContain('life-3');
    expect(worker.currentState).toBe('stopped');
  });
});

describe('options given as 0 are refused, not read as the default', () => {
  it.each([
    [{ direct: { stallTimeoutMs: 0 } }, 'direct.stallTimeoutMs: must be a positive number of ms, got 0'],
    [{ direct: { probeTimeoutMs: 0 } }, 'direct.probeTimeoutMs: must be a positive number of ms, got 0'],
  ])('Pipeline.connect(%j)', async (options, message) => {
    await expect(env.pipeline(options)).rejects.toThrow(message);
  });

  it.each([
    [{ wakeTimeoutMs: 0 }, 'wakeTimeoutMs: must be a positive number of ms, got 0'],
    [{ maxInFlight: 0 }, 'maxInFlight: must be a positive integer, got 0'],
  ])('openRun(%j)', async (options, message) => {
    const pipeline = await env.pipeline();
    await expect(pipeline.openRun(options)).rejects.toThrow(message);
  });
});
