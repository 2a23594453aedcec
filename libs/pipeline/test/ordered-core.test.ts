import { buildRunSpec, type OnError } from '@cnsn/protocol';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { Producer } from '../src/core/producer.js';
import {
  BatchFailedError,
  BufferPool,
  type DeliveredBatch,
  PipelineRun,
  silentLogger,
} from '../src/index.js';
import { MemoryControl } from './support/memory-control.js';
import { MemoryDriverPlane } from './support/memory-plane.js';
import { type Attempt, SimulatedWorkers, simulatedAugment, sleep } from './support/simulated-workers.js';

const SHAPE = [2, 3, 2, 2];

/** Batch `seq`'s input: distinct values, so a swapped or stale batch shows. */
function input(seq: number): Float32Array {
  return Float32Array.from({ length: 24 }, (_, i) => seq * 100 + i);
}

interface Setup {
  batches: number;
  window: number;
  reuse: boolean;
  onError: OnError;
  script: Attempt[][];
  consumerDelay: number;
  cursor?: number;
  previouslyEnqueued?: number;
  control?: MemoryControl;
  plane?: MemoryDriverPlane;
  workers?: SimulatedWorkers;
  results?: BufferPool;
}

function openRun(s: Setup) {
  const results = s.results ?? new BufferPool(s.reuse);
  const plane = s.plane ?? new MemoryDriverPlane({ run: 'r', results, maxBlobBytes: 1 << 20 });
  const control = s.control ?? new MemoryControl();
  const workers = s.workers ?? new SimulatedWorkers(plane, control, (seq) => s.script[seq] ?? []);
  const { spec } = buildRunSpec({ onError: s.onError }, 'r', 'redis');
  const run = new PipelineRun({
    spec,
    plane,
    control,
    results,
    maxInFlight: s.window,
    maxBatchBytes: 1 << 20,
    maxBlobBytes: 1 << 20,
    oomWaitMs: 1000,
    cursor: s.cursor ?? 0,
    previouslyEnqueued: s.previouslyEnqueued ?? 0,
    resumed: null,
    logger: silentLogger,
    wakeTimeoutMs: 15,
  });
  return { run, plane, control, workers, results };
}

/** Feeds every batch, collects every result (copied), as a driver does. */
async function drive(s: Setup, from = 0) {
  const parts = openRun(s);
  const { run } = parts;
  const producing = (async () => {
    for (let seq = from; seq < s.batches; seq++) await run.enqueue(input(seq), SHAPE);
    await run.end();
  })();
  const delivered: DeliveredBatch[] = [];
  let error: unknown = null;
  try {
    for await (const b of run.results()) {
      delivered.push({ ...b, data: b.data.slice() });
      if (s.consumerDelay) await sleep(s.consumerDelay);
    }
    await producing;
  } catch (err) {
    error = err;
    producing.catch(() => undefined);
  }
  parts.workers.stopped = true;
  await run.close();
  return { ...parts, delivered, error };
}

const attempt: fc.Arbitrary<Attempt> = fc.oneof(
  fc.record({
    kind: fc.constant('ok' as const),
    delay: fc.integer({ min: 0, max: 8 }),
    duplicate: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('drop-result' as const), delay: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('lose-job' as const), delay: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('lose-input' as const), delay: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('crash' as const), delay: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constant('bad-input' as const), delay: fc.integer({ min: 0, max: 5 }) }),
);

const setup = (onError: fc.Arbitrary<OnError>): fc.Arbitrary<Setup> =>
  fc.record({
    batches: fc.integer({ min: 1, max: 16 }),
    window: fc.integer({ min: 1, max: 6 }),
    reuse: fc.boolean(),
    onError,
    script: fc.array(fc.array(attempt, { maxLength: 3 }), { minLength: 16, maxLength: 16 }),
    consumerDelay: fc.integer({ min: 0, max: 3 }),
  });

describe('the ordered core, on an in-memory plane that drops, delays, duplicates and reorders', () => {
  it('delivers every batch once, in order, with its own data; failed ones per the policy; memory bounded', async () => {
    await fc.assert(
      fc.asyncProperty(setup(fc.constantFrom<OnError>('skip', 'passthrough')), async (s) => {
        const { run, delivered, error, plane, control, results } = await drive(s);
        expect(error).toBeNull();
        const outcome = (seq: number) => SimulatedWorkers.outcome(s.script[seq] ?? []);
        const all = Array.from({ length: s.batches }, (_, seq) => seq);
        // The cursor passed every batch, once each, in order.
        expect(control.deliveredSeqs).toEqual(all);
        const failed = all.filter((seq) => outcome(seq) === 'failed');
        if (s.onError === 'skip') {
          expect(delivered.map((b) => b.seq)).toEqual(all.filter((seq) => outcome(seq) === 'ok'));
          expect(run.skipped.map((x) => x.seq)).toEqual(failed);
        } else {
          expect(delivered.map((b) => b.seq)).toEqual(all);
          expect(delivered.filter((b) => b.status === 'passthrough').map((b) => b.seq)).toEqual(failed);
        }
        for (const b of delivered) {
          const want = b.status === 'ok' ? simulatedAugment(input(b.seq)) : input(b.seq);
          expect(Array.from(b.data), `batch ${b.seq}`).toEqual(Array.from(want));
        }
        // Memory: at most the window of inputs held; with reuse, results in a bounded set of buffers.
        expect(plane.maxInputs).toBeLessThanOrEqual(s.window);
        if (s.reuse) expect(results.highWater).toBeLessThanOrEqual(s.window + 2);
        // Nothing left behind on the plane, and the plane and control plane were closed.
        expect(plane.inputs.size + plane.results.size).toBe(0);
        expect(plane.closed && control.closed).toBe(true);
      }),
      { numRuns: 60 },
    );
  }, 120_000);

  it("under 'fail' the first failed batch stops the run; every batch before it was delivered in order", async () => {
    await fc.assert(
      fc.asyncProperty(setup(fc.constant<OnError>('fail')), async (s) => {
        const { delivered, error, control } = await drive(s);
        const outcomes = Array.from({ length: s.batches }, (_, seq) =>
          SimulatedWorkers.outcome(s.script[seq] ?? []),
        );
        const firstFailed = outcomes.indexOf('failed');
        if (firstFailed < 0) {
          expect(error).toBeNull();
          expect(delivered.map((b) => b.seq)).toEqual(outcomes.map((_, seq) => seq));
          return;
        }
        expect(error).toBeInstanceOf(BatchFailedError);
        expect((error as BatchFailedError).seq).toBe(firstFailed);
        expect(delivered.map((b) => b.seq)).toEqual(Array.from({ length: firstFailed }, (_, seq) => seq));
        expect(control.failed).toBe(true);
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  it('a driver that dies holding a batch gets it again when it resumes: each batch at least once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        setup(fc.constant<OnError>('skip')).filter((s) => s.batches >= 2),
        fc.integer({ min: 1, max: 15 }),
        async (s, stopAfter) => {
          const results = new BufferPool(false);
          const plane = new MemoryDriverPlane({ run: 'r', results, maxBlobBytes: 1 << 20 });
          const control = new MemoryControl();
          // The workers outlive the driver: the same pool serves the resumed one.
          const workers = new SimulatedWorkers(plane, control, (seq) => s.script[seq] ?? []);
          const shared = { ...s, plane, control, workers, results };
          // The first driver takes some batches and dies while holding the last one it took.
          const first = openRun(shared);
          const feeding = (async () => {
            for (let seq = 0; seq < s.batches; seq++) await first.run.enqueue(input(seq), SHAPE);
            await first.run.end();
          })();
          feeding.catch(() => undefined);
          const seen: number[] = [];
          const it = first.run.results();
          for (let i = 0; i < Math.min(stopAfter, s.batches); i++) {
            const r = await it.next();
            if (r.done) break;
            seen.push(r.value.seq);
          }
          await first.run.close(); // dies: the batch in hand is not counted delivered
          const cursor = control.cursor;
          const enqueued = Math.max(cursor, ...[...control.jobs.keys()].map((k) => k + 1));
          // The second driver resumes from the cursor, with the same plane and control plane.
          const second = await drive({ ...shared, cursor, previouslyEnqueued: enqueued }, cursor);
          expect(second.error).toBeNull();
          const again = second.delivered.map((b) => b.seq);
          const all = [...seen, ...again];
          const oks = Array.from({ length: s.batches }, (_, seq) => seq).filter(
            (seq) => SimulatedWorkers.outcome(s.script[seq] ?? []) === 'ok',
          );
          // In order within each driver; the resumed one starts at or before where the first stopped.
          expect(again).toEqual(oks.filter((seq) => seq >= cursor));
          expect(new Set(all)).toEqual(new Set(oks));
          // The batch the first driver held when it died is handed over again (at least once).
          const held = seen[seen.length - 1];
          if (held !== undefined && held >= cursor) expect(again[0]).toBe(held);
          for (const b of second.delivered)
            expect(Array.from(b.data)).toEqual(Array.from(simulatedAugment(input(b.seq))));
        },
      ),
      { numRuns: 30 },
    );
  }, 120_000);

  it('concurrent enqueue and reject calls are numbered in call order, with no duplicate or gap', async () => {
    const { run, workers, control } = openRun({
      batches: 16,
      window: 4,
      reuse: false,
      onError: 'skip',
      script: [],
      consumerDelay: 0,
    });
    // Sixteen callers at once (every fourth refuses its batch), then end(), without awaiting any.
    const calls = Array.from({ length: 16 }, (_, i) =>
      i % 4 === 3 ? run.reject(`refused ${i}`) : run.enqueue(input(i), SHAPE),
    );
    const ending = run.end();
    const delivered: DeliveredBatch[] = [];
    for await (const b of run.results()) delivered.push({ ...b, data: b.data.slice() });
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 16 }, (_, i) => i));
    await ending;
    expect(control.total).toBe(16);
    expect(run.skipped.map((x) => x.seq)).toEqual([3, 7, 11, 15]);
    expect(delivered.map((b) => b.seq)).toEqual([0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14]);
    // Batch number i holds caller i's data.
    for (const b of delivered)
      expect(Array.from(b.data), `batch ${b.seq}`).toEqual(Array.from(simulatedAugment(input(b.seq))));
    workers.stopped = true;
    await run.close();
  });

  it('a refused batch takes no number: the next caller gets it', async () => {
    const { run, workers } = openRun({
      batches: 3,
      window: 4,
      reuse: false,
      onError: 'fail',
      script: [],
      consumerDelay: 0,
    });
    const calls = [
      run.enqueue(input(0), SHAPE),
      run.enqueue(new Float32Array(5), SHAPE),
      run.enqueue(input(1), SHAPE),
    ];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : 'refused'))).toEqual([0, 'refused', 1]);
    workers.stopped = true;
    await run.close();
  });

  it('a batch lost five times fails for good with that reason, and the run does not hang', async () => {
    const lost: Attempt = { kind: 'lose-job', delay: 0 };
    const { delivered, error, control } = await drive({
      batches: 3,
      window: 2,
      reuse: false,
      onError: 'fail',
      script: [[], Array.from({ length: 20 }, () => lost)],
      consumerDelay: 0,
    });
    expect(error).toBeInstanceOf(BatchFailedError);
    expect((error as BatchFailedError).seq).toBe(1);
    expect((error as BatchFailedError).reason).toMatch(/lost 5 times/);
    // Queued once, then again five times: six submissions in all.
    expect(control.submissions.get(1)).toBe(6);
    expect(delivered.map((b) => b.seq)).toEqual([0]);
  });

  it('checks each batch once per enqueue', async () => {
    const check = vi.spyOn(Producer.prototype, 'check');
    try {
      const { delivered } = await drive({
        batches: 5,
        window: 2,
        reuse: false,
        onError: 'fail',
        script: [],
        consumerDelay: 0,
      });
      expect(delivered).toHaveLength(5);
      expect(check).toHaveBeenCalledTimes(5);
    } finally {
      check.mockRestore();
    }
  });

  it('close reports each step that failed, after running them all', async () => {
    const { run, control, plane, workers } = openRun({
      batches: 0,
      window: 2,
      reuse: false,
      onError: 'fail',
      script: [],
      consumerDelay: 0,
    });
    workers.stopped = true;
    control.close = async () => {
      throw new Error('control boom');
    };
    await expect(run.close()).rejects.toThrow(
      'run r: 1 cleanup step(s) failed: close the control plane: control boom',
    );
    // The step after the failed one ran all the same.
    expect(plane.closed).toBe(true);
  });

  it('setSelfNorm: later batches name the new set; a batch queued again keeps the set it was enqueued with', async () => {
    const bn = {
      weight: [1, 1, 1],
      bias: [0, 0, 0],
      runningMean: [0, 0, 0],
      runningVar: [1, 1, 1],
      eps: 1e-5,
    };
    const p0 = {
      gWeight: [
        [1, 0],
        [0, 1],
        [1, 1],
      ] as Array<[number, number]>,
      gBn: bn,
    };
    const p1 = {
      ...p0,
      gWeight: [
        [2, 0],
        [0, 2],
        [2, 2],
      ] as Array<[number, number]>,
    };
    const results = new BufferPool(false);
    const plane = new MemoryDriverPlane({ run: 'r', results, maxBlobBytes: 1 << 20 });
    const control = new MemoryControl();
    const lost: Attempt = { kind: 'lose-job', delay: 0 };
    const workers = new SimulatedWorkers(plane, control, (seq) => (seq === 3 ? [lost, lost] : []));
    const { spec } = buildRunSpec({ onError: 'fail', selfnorm: { mode: 'train', params: p0 } }, 'r', 'redis');
    const run = new PipelineRun({
      spec,
      plane,
      control,
      results,
      maxInFlight: 2,
      maxBatchBytes: 1 << 20,
      maxBlobBytes: 1 << 20,
      oomWaitMs: 1000,
      cursor: 0,
      previouslyEnqueued: 0,
      resumed: null,
      logger: silentLogger,
      wakeTimeoutMs: 15,
    });
    const feeding = (async () => {
      await run.enqueue(input(0), SHAPE);
      await run.enqueue(input(1), SHAPE);
      expect(await run.setSelfNorm(p1)).toBe(1);
      // A set for another channel count is refused, naming the field; the run goes on.
      const one = { weight: [1], bias: [0], runningMean: [0], runningVar: [1], eps: 1e-5 };
      await expect(run.setSelfNorm({ gWeight: [[1, 0]], gBn: one })).rejects.toThrow(
        'selfnorm.params.gWeight: the run has 3 channels, these parameters are for 1',
      );
      for (let seq = 2; seq < 5; seq++) await run.enqueue(input(seq), SHAPE);
      await run.end();
    })();
    const seqs: number[] = [];
    for await (const b of run.results()) seqs.push(b.seq);
    await feeding;
    workers.stopped = true;
    await run.close();
    expect(seqs).toEqual([0, 1, 2, 3, 4]);
    const named = [0, 1, 2, 3, 4].map((seq) => control.jobs.get(seq)?.job.paramsVersion ?? 0);
    expect(named).toEqual([0, 0, 1, 1, 1]);
    // Batch 3 was lost twice and queued again each time, naming the same set.
    expect(control.submissions.get(3)).toBe(3);
    const hash = control.jobs.get(3)?.job.paramsHash;
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(control.params.has(hash as string)).toBe(true);
    expect(hash).not.toBe(spec.selfnorm?.paramsHash);
  });
});
