import { buildRunSpec } from '@cnsn/protocol';
import { describe, expect, it } from 'vitest';
import { BufferPool, type DeliveredBatch, PipelineRun, silentLogger } from '../src/index.js';
import { MemoryControl } from './support/memory-control.js';
import { MemoryDriverPlane } from './support/memory-plane.js';
import { SimulatedWorkers, simulatedAugment, sleep } from './support/simulated-workers.js';

// A resumed run on the in-memory planes, each case with its own short bound: a resume that hangs
// fails here in seconds (ordered-core.test.ts's property over random schedules allows 120 s).

const SHAPE = [2, 3, 2, 2];
const BOUND_MS = 10_000;

function input(seq: number): Float32Array {
  return Float32Array.from({ length: 24 }, (_, i) => seq * 100 + i);
}

/** The control plane, noting which batches the driver recorded as newly enqueued. */
class NotingControl extends MemoryControl {
  readonly recorded: number[] = [];
  override async recordEnqueued(seq: number, bytes: number): Promise<void> {
    this.recorded.push(seq);
    await super.recordEnqueued(seq, bytes);
  }
}

interface Shared {
  plane: MemoryDriverPlane;
  control: NotingControl;
  results: BufferPool;
  workers: SimulatedWorkers;
}

function shared(): Shared {
  const results = new BufferPool(false);
  const plane = new MemoryDriverPlane({ run: 'r', results, maxBlobBytes: 1 << 20 });
  const control = new NotingControl();
  const workers = new SimulatedWorkers(plane, control, () => []);
  return { plane, control, results, workers };
}

function openRun(s: Shared, cursor: number, previouslyEnqueued: number): PipelineRun {
  const { spec } = buildRunSpec({ onError: 'fail' }, 'r', 'redis');
  return new PipelineRun({
    spec,
    plane: s.plane,
    control: s.control,
    results: s.results,
    maxInFlight: 8,
    maxBatchBytes: 1 << 20,
    maxBlobBytes: 1 << 20,
    oomWaitMs: 1000,
    cursor,
    previouslyEnqueued,
    resumed: null,
    logger: silentLogger,
    wakeTimeoutMs: 15,
  });
}

describe('a resumed run', () => {
  it(
    'adopts the batches an earlier driver enqueued, enqueues the rest, and delivers each once, in order',
    async () => {
      const s = shared();
      // The first driver enqueues 5 of 8 batches, is handed 2 and dies holding the second.
      const first = openRun(s, 0, 0);
      for (let seq = 0; seq < 5; seq++) await first.enqueue(input(seq), SHAPE);
      const it = first.results();
      expect((await it.next()).value?.seq).toBe(0);
      expect((await it.next()).value?.seq).toBe(1);
      await first.close();
      expect(s.control.cursor).toBe(1); // batch 1 was in hand: not delivered
      expect(s.control.recorded).toEqual([0, 1, 2, 3, 4]);
      s.control.recorded.length = 0;
      const submitted = new Map(s.control.submissions);
      // The second resumes at the cursor, with what Redis says was enqueued.
      const second = openRun(s, 1, 5);
      const feeding = (async () => {
        for (let seq = 1; seq < 8; seq++) await second.enqueue(input(seq), SHAPE);
        await second.end();
      })();
      const out: DeliveredBatch[] = [];
      for await (const b of second.results()) out.push({ ...b, data: b.data.slice() });
      await feeding;
      s.workers.stopped = true;
      await second.close();
      expect(out.map((b) => b.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      for (const b of out) expect(Array.from(b.data)).toEqual(Array.from(simulatedAugment(input(b.seq))));
      // Batches 1..4 were adopted (their jobs stand: not queued again), 5..7 enqueued as new.
      expect(s.control.recorded).toEqual([5, 6, 7]);
      for (let seq = 1; seq < 5; seq++) expect(s.control.submissions.get(seq)).toBe(submitted.get(seq));
    },
    BOUND_MS,
  );

  it(
    "takes no result before this driver enqueued its batch, even one an earlier driver's workers left",
    async () => {
      const s = shared();
      const first = openRun(s, 0, 0);
      for (let seq = 0; seq < 3; seq++) await first.enqueue(input(seq), SHAPE);
      // Every result is on the plane; the first driver dies before it takes any.
      while (s.plane.results.size < 3) await sleep(1);
      await first.close();
      const second = openRun(s, 0, 3);
      const asked: number[] = [];
      const fetchResult = s.plane.fetchResult.bind(s.plane);
      s.plane.fetchResult = (seq: number) => {
        asked.push(seq);
        return fetchResult(seq);
      };
      const it = second.results();
      const next = it.next();
      let settled = false;
      void next.then(() => (settled = true));
      // Many wake timeouts (15 ms) pass with nothing enqueued: nothing is asked of the plane.
      await sleep(150);
      expect({ settled, asked }).toEqual({ settled: false, asked: [] });
      await second.enqueue(input(0), SHAPE);
      expect((await next).value?.seq).toBe(0);
      await second.enqueue(input(1), SHAPE);
      await second.enqueue(input(2), SHAPE);
      await second.end();
      const rest: number[] = [];
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        rest.push(r.value.seq);
      }
      expect(rest).toEqual([1, 2]);
      s.workers.stopped = true;
      await second.close();
    },
    BOUND_MS,
  );
});
