import { describe, expect, it } from 'vitest';
import { syntheticSource } from '../src/batch-source.js';
import { syntheticBatch } from '../src/synthetic.js';

describe('synthetic batches', () => {
  it('a long run is made as it is enqueued: memory does not grow with --batches', async () => {
    const before = process.memoryUsage().rss;
    // 100000 batches of 16x64x28x28 would be 321 GB made up front.
    const source = syntheticSource([16, 64, 28, 28], 100_000, 3);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    const last = await source.load(99_999);
    expect(Array.from(last.data.subarray(0, 64))).toEqual(
      Array.from(syntheticBatch([16, 64, 28, 28], 3, 99_999).data.subarray(0, 64)),
    );
    expect(source.makeMs).toBeGreaterThan(0);
  });

  it('a short run is made before the clock starts, and the same batches either way', async () => {
    const eager = syntheticSource([2, 3, 4, 4], 5, 7);
    const lazy = syntheticSource([2, 3, 4, 4], 5, 7, 0);
    for (let seq = 0; seq < 5; seq++)
      expect(Array.from((await eager.load(seq)).data)).toEqual(Array.from((await lazy.load(seq)).data));
    expect(eager.makeMs).toBe(0);
  });
});
