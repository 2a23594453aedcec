import { type Shape4 } from '@cnsn/kernels';
import { WORKER_LOCK } from '@cnsn/pipeline';
import { jobId } from '@cnsn/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, expectedDigest, PipelineEnv, testBatch, waitUntil } from './support/index.js';

// A batch that takes longer than the lock (a large batch on a slow backend) must keep its lock: the
// worker renews it while it computes. A renewal later than the lock runs out would let the stall
// check hand the batch to a second worker while the first still holds it (and fail it for good
// after maxStalledCount stalls). The workers here are the product's worker command with its own
// lock settings; only the hold comes from the test support (fault-worker.ts).

const SHAPE: Shape4 = [2, 4, 5, 5];
const crossnorm = { crop: 'both', chan: true } as const;
// Past the lock and two stall checks: a lock that was not renewed is gone, and noticed, well before.
const HOLD_MS = WORKER_LOCK.lockDuration + 2 * WORKER_LOCK.stalledInterval;

describe('a batch held past its lock, with a second worker idle beside it', () => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start({ plane: 'direct' });
  });
  // Killed, not stopped: a worker that took the batch a second time would finish its hold first.
  afterAll(async () => {
    await Promise.all(env.workers.map((w) => w.kill()));
    await env.dispose();
  });

  it('is processed once, by one worker, and never found stalled', async () => {
    const workers = await env.startWorkers(2, {
      env: { CNSN_FAULT_DELAY_MS: String(HOLD_MS), CNSN_FAULT_STAGE: 'compute' },
    });
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 6, crossnorm });
    const b = testBatch(SHAPE, 61);
    await run.enqueue(b.data, b.shape);
    await run.end();
    const holds = (): number =>
      workers.reduce((n, w) => n + (w.log.match(/fault: holding batch 0 of run /g)?.length ?? 0), 0);
    const collecting = (async () => {
      const out: Float32Array[] = [];
      for await (const r of run.results()) out.push(r.data.slice());
      return out;
    })();
    await waitUntil(() => holds() >= 1, 30_000, 'a worker to hold batch 0');
    const heldAt = Date.now();
    // Done when the result comes, or at once when a second worker takes the batch (the bug).
    let settled = false;
    const takenAgain = waitUntil(() => settled || holds() >= 2, 10 * HOLD_MS, 'a second hold');
    const out = await Promise.race([collecting, takenAgain.then(() => null)]).finally(() => (settled = true));
    expect(holds(), 'times a worker took batch 0 (a second: its lock ran out while held)').toBe(1);
    // The fault struck where it meant: the batch stayed in one worker's hands past the lock's life
    // and a stall check after it.
    expect(Date.now() - heldAt).toBeGreaterThan(WORKER_LOCK.lockDuration + WORKER_LOCK.stalledInterval);
    const job = await pipeline.queue.getJob(jobId(run.id, 0, run.spec.incarnation));
    await waitUntil(async () => (await job?.getState()) === 'completed', 10_000, 'the job to complete');
    const done = await pipeline.queue.getJob(jobId(run.id, 0, run.spec.incarnation));
    expect({ stalled: done?.stalledCounter ?? 0, started: done?.attemptsStarted }).toEqual({
      stalled: 0,
      started: 1,
    });
    expect(digestOf(out ?? [])).toBe(await expectedDigest([b], 6, crossnorm, null));
    await run.close();
  });
});
