import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Shape4 } from '@cnsn/kernels';
import type { DeliveredBatch, PipelineRun } from '@cnsn/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineEnv, testBatch, waitUntil } from './support/index.js';

const SHAPE: Shape4 = [4, 8, 6, 5];
const batches = Array.from({ length: 10 }, (_, i) => testBatch(SHAPE, 40 + i));
const [first, second] = batches as [(typeof batches)[0], (typeof batches)[0]];

/** What a client on this host does: the values at the place the run names, then enqueuePlaced. */
async function enqueuePlaced(run: PipelineRun, data: Float32Array): Promise<number> {
  const seq = run.nextSeq;
  const place = run.placeFor(seq);
  if (!place) throw new Error('the run takes no placed batches');
  const file = await open(place.path, 'w');
  await file.write(
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    0,
    data.byteLength,
    place.offset,
  );
  await file.close();
  return run.enqueuePlaced(SHAPE, seq);
}

async function readPlace(batch: DeliveredBatch): Promise<Float32Array> {
  if (!batch.place) throw new Error(`batch ${batch.seq} has no place`);
  const file = await open(batch.place.path, 'r');
  const bytes = new Uint8Array(batch.place.bytes);
  await file.read(bytes, 0, bytes.length, batch.place.offset);
  await file.close();
  return new Float32Array(bytes.buffer);
}

async function collect(run: PipelineRun, feed: () => Promise<void>): Promise<Float32Array[]> {
  const feeding = feed().then(() => run.end());
  const out: Float32Array[] = [];
  for await (const b of run.results()) out.push(b.place ? await readPlace(b) : b.data.slice());
  await feeding;
  return out;
}

describe('the shm plane: tensors as files in /dev/shm', () => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start({ plane: 'shm' });
    await env.startWorkers(2);
  });
  afterAll(() => env.dispose());

  it('a client on this host writes inputs and reads results in place: the same outputs, bitwise', async () => {
    const pipeline = await env.pipeline();
    const plain = await pipeline.openRun({ seed: 9 });
    const want = await collect(plain, async () => {
      for (const b of batches) await plain.enqueue(b.data, b.shape);
    });
    await plain.close();
    const placed = await pipeline.openRun({
      seed: 9,
      resultsInPlace: true,
      maxInFlight: 4,
      dataPlane: 'auto',
      localPlane: 'shm',
    });
    expect(placed.planeChoice).toMatch(/^shm: auto: every live worker shares this host's \/dev\/shm/);
    expect(placed.resultsInPlace).toBe(true);
    const got = await collect(placed, async () => {
      for (const b of batches) await enqueuePlaced(placed, b.data);
    });
    expect(got).toHaveLength(batches.length);
    got.forEach((out, k) =>
      expect(
        Buffer.from(out.buffer).equals(Buffer.from((want[k] ?? new Float32Array(0)).buffer)),
        `batch ${k}`,
      ).toBe(true),
    );
    // Every byte went through the files: the plane counts them, no result buffer was taken.
    expect(placed.planeBytes.in).toBeGreaterThan(batches.length * SHAPE.reduce((a, b) => a * b, 4));
    expect(placed.resultBuffersHighWater).toBe(0);
    const dir = placed.placeFor(0)?.dir ?? '';
    await placed.close();
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });

  it('a placed batch that fails passes through under passthrough: its input is read back from the plane', async () => {
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 2, onError: 'passthrough', resultsInPlace: true });
    const bad = first.data.slice();
    bad[7] = Number.NaN;
    const out: DeliveredBatch[] = [];
    const feeding = (async () => {
      await enqueuePlaced(run, second.data);
      await enqueuePlaced(run, bad);
      await run.end();
    })();
    for await (const b of run.results())
      out.push({ ...b, data: b.place ? await readPlace(b) : b.data.slice() });
    await feeding;
    await run.close();
    expect(out.map((b) => b.status)).toEqual(['ok', 'passthrough']);
    expect(out[1]?.reason).toMatch(/not finite/);
    expect(Buffer.from(out[1]?.data.buffer ?? new ArrayBuffer(0)).equals(Buffer.from(bad.buffer))).toBe(true);
  });

  it('a worker that does not see the run directory says it is not on the driver host, and how to fix it', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'cnsn-elsewhere-'));
    const other = await PipelineEnv.start({ plane: 'shm' });
    try {
      const [worker] = await other.startWorkers(1, { env: { CNSN_SHM_DIR: elsewhere } });
      const pipeline = await other.pipeline();
      // auto for a local client: shm only when the workers see this /dev/shm, which this one does not.
      const auto = await pipeline.openRun({ seed: 1, dataPlane: 'auto', localPlane: 'shm' });
      expect(auto.dataPlane).toBe('direct');
      await auto.close();
      const run = await pipeline.openRun({ seed: 1 });
      await run.enqueue(first.data, SHAPE);
      await waitUntil(() => (worker?.log ?? '').includes('is not on host'), 20_000, 'the worker to say why');
      expect(worker?.log).toMatch(
        /the shm plane's directory \S+ of run \S+ is not on host \S+: run this worker on the driver's host, or use the direct or redis plane/,
      );
      await run.close();
    } finally {
      await other.dispose();
      await rm(elsewhere, { recursive: true, force: true });
    }
  });
});
