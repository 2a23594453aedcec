import { createBackend, makePlan, type Shape4 } from '@cnsn/kernels';
import type { PipelineRun } from '@cnsn/pipeline';
import { narrowFloat32, widenToFloat32 } from '@cnsn/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, GOLDEN_DIR, PipelineEnv, runCnsn, TESTED_PLANES, testBatch } from './support/index.js';

const SHAPE: Shape4 = [4, 8, 7, 7];
const crossnorm = { crop: 'both', chan: true } as const;

function throughWire(x: Float32Array, wire: 'bfloat16' | 'float16'): Float32Array {
  return widenToFloat32(narrowFloat32(x, wire, new Uint16Array(x.length)), wire, new Float32Array(x.length));
}

/** What a 16-bit run delivers, computed here: input rounded, augmented in float32, output rounded. */
async function expectedThroughWire(
  batches: Array<{ data: Float32Array; shape: Shape4 }>,
  seed: number,
  wire: 'bfloat16' | 'float16',
): Promise<string> {
  const { backend } = await createBackend('fused');
  const out: Float32Array[] = [];
  for (const [seq, b] of batches.entries()) {
    const plan = makePlan(b.shape, seed, seq, crossnorm);
    const r = await backend.augment(
      { data: throughWire(b.data, wire), shape: b.shape },
      { plan, selfnorm: null },
    );
    out.push(throughWire(r.data, wire));
  }
  await backend.dispose();
  return digestOf(out);
}

async function runAll(
  run: PipelineRun,
  batches: Array<{ data: Float32Array; shape: Shape4 }>,
): Promise<Float32Array[]> {
  const producing = (async () => {
    for (const b of batches) await run.enqueue(b.data, b.shape);
    await run.end();
  })();
  const out: Float32Array[] = [];
  for await (const r of run.results()) out.push(r.data.slice());
  await producing;
  return out;
}

describe.each(TESTED_PLANES)('--wire bfloat16 and float16 on the %s plane', (plane) => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start({ plane });
    await env.startWorkers(2);
  });
  afterAll(() => env.dispose());

  it.each(['bfloat16', 'float16'] as const)(
    '%s: bitwise what the same roundings give in process (inputs and results travel in 16 bits)',
    async (wire) => {
      const batches = Array.from({ length: 8 }, (_, i) => testBatch(SHAPE, 80 + i));
      const run = await (await env.pipeline()).openRun({ seed: 6, crossnorm, wire });
      const out = await runAll(run, batches);
      // Half the bytes on the plane (headers aside) both ways.
      expect(run.planeBytes.in).toBeLessThan(batches.length * (4 * 8 * 49 * 2 + 200));
      await run.close();
      expect(digestOf(out)).toBe(await expectedThroughWire(batches, 6, wire));
    },
  );

  it('float16 refuses at enqueue a value it cannot hold, naming the batch, the value and what to use', async () => {
    const run = await (await env.pipeline()).openRun({ seed: 1, crossnorm, wire: 'float16' });
    const b = testBatch(SHAPE, 1);
    b.data[17] = 70000;
    await expect(run.enqueue(b.data, b.shape)).rejects.toThrow(
      "batch 0 refused at enqueue: wire float16: value 70000 at index 17 is outside float16's range (+-65504); use --wire bfloat16 or float32",
    );
    await run.close();
  });

  it('float16 fails a batch whose result it cannot hold, with the reason (the worker goes on)', async () => {
    // Instance 0 near the top of float16's range; instance 1 with a far outlier takes 0's style
    // (a seed whose plan swaps the two): its outlier lands beyond 65504.
    const shape: Shape4 = [2, 1, 4, 4];
    const options = { crop: 'neither', chan: false } as const;
    const seed =
      Array.from({ length: 50 }, (_, s) => s).find((s) => makePlan(shape, s, 0, options).insIdxs[1] === 0) ??
      0;
    const data = new Float32Array(32);
    for (let i = 0; i < 16; i++) data[i] = 64000 + (i % 4) * 300;
    for (let i = 16; i < 32; i++) data[i] = (i % 3) - 1;
    data[31] = 40;
    const run = await (
      await env.pipeline()
    ).openRun({ seed, crossnorm: options, wire: 'float16', onError: 'skip' });
    await run.enqueue(data, shape);
    await run.end();
    for await (const _ of run.results()) {
      // nothing is delivered
    }
    await run.close();
    expect(run.skipped).toHaveLength(1);
    expect(run.skipped[0]?.reason).toMatch(
      /wire float16: value \d+(\.\d+)? at index \d+ is outside float16's range \(\+-65504\); use --wire bfloat16 or float32/,
    );
  });
});

describe('the error of 16-bit wires on the golden cases', () => {
  it('golden-check --wire reports it; float16 (11 bits) errs less than bfloat16 (8 bits)', async () => {
    const [bf, h] = [
      await runCnsn(['golden-check', GOLDEN_DIR, '--wire', 'bfloat16']),
      await runCnsn(['golden-check', GOLDEN_DIR, '--wire', 'float16']),
    ];
    for (const r of [bf, h]) expect(r.code, r.stderr).toBe(0);
    const a = bf.json as { cases: number; maxAbsErr: number; rmsErr: number };
    const b = h.json as { cases: number; maxAbsErr: number; rmsErr: number };
    expect(a.cases).toBe(72);
    expect(b.maxAbsErr).toBeLessThan(a.maxAbsErr);
    expect(b.rmsErr).toBeLessThan(a.rmsErr);
    // Of the order of the formats' own rounding on unit-scale values (2^-8 and 2^-11), amplified
    // where CrossNorm divides by a small spread.
    expect(a.rmsErr).toBeLessThan(0.05);
    expect(b.rmsErr).toBeLessThan(0.005);
  });
});
