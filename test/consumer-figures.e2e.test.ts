import { afterAll, beforeAll, expect, it } from 'vitest';
import { PipelineEnv, testBatch } from './support/index.js';

let env: PipelineEnv;
beforeAll(async () => {
  env = await PipelineEnv.start();
  await env.startWorkers(1);
});
afterAll(() => env.dispose());

it("reports how long the run's consumer waited for batches against how long it held them", async () => {
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 1, selfnorm: null, runId: 'consumer-figures' });
  for (let i = 0; i < 4; i++) {
    const b = testBatch([2, 3, 4, 4], i);
    await run.enqueue(b.data, b.shape);
  }
  let held = 0;
  for await (const b of run.results()) {
    // A slow training step: the consumer holds each batch 120 ms.
    await new Promise((r) => setTimeout(r, 120));
    held++;
    if (b.seq === 3) break;
  }
  expect(held).toBe(4);
  const figures = run.consumerFigures;
  expect(figures.batches).toBe(4);
  expect(figures.holdMs).toBeGreaterThanOrEqual(4 * 115);
  await run.close(); // unfinished (no end()): it stays, with its figures written at close
  const status = await pipeline.status();
  const row = status.runs.find((r) => r.run === 'consumer-figures');
  expect(row?.counters.consumer).toEqual({
    batches: 4,
    waitMs: expect.closeTo(figures.waitMs, 0) as number,
    holdMs: expect.closeTo(figures.holdMs, 0) as number,
  });
});

it('writes no figures for a run that is gone', async () => {
  const pipeline = await env.pipeline();
  const run = await pipeline.openRun({ seed: 2, selfnorm: null, runId: 'consumer-gone' });
  const b = testBatch([2, 3, 4, 4], 0);
  await run.enqueue(b.data, b.shape);
  await run.end();
  for await (const _ of run.results()) {
    // drained
  }
  await run.close(); // finished: removed
  await new Promise((r) => setTimeout(r, 1100)); // past the flush period: the next report is written
  await run.reportConsumer(1, 2, 1); // a late report, after the run was removed
  expect(await pipeline.redis.exists(pipeline.keys.run('consumer-gone'))).toBe(0);
  expect((await pipeline.status()).runs.map((r) => r.run)).not.toContain('consumer-gone');
});
