import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createBackend,
  CROSSNORM_EPS,
  defaultSelfNormParams,
  instanceStats,
  makePlan,
  type Crop,
  type Shape4,
} from '../src/index.js';
import { describeEachBackend } from './backends.js';
import { randomBatch } from './random-batch.js';

const shapeArb = fc
  // H, W >= 3: the reference sampler cannot draw a box of 2 elements on a side of 2 (see the error test).
  .tuple(
    fc.integer({ min: 1, max: 5 }),
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 3, max: 9 }),
    fc.integer({ min: 3, max: 9 }),
  )
  .map((s) => s as unknown as Shape4);
const cropArb = fc.constantFrom<Crop>('neither', 'style', 'content', 'both');

describeEachBackend('CrossNorm properties', (ctx) => {
  it('crop neither, no lam: every output instance has its style instance statistics', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.nat(), fc.boolean(), async (shape, seed, chan) => {
        const batch = randomBatch(shape, seed);
        const plan = makePlan(shape, seed, 0, { crop: 'neither', chan });
        const { data } = await ctx.backend.augment(batch, { plan, selfnorm: null });
        const x = instanceStats(batch, CROSSNORM_EPS);
        const y = instanceStats({ data, shape }, CROSSNORM_EPS);
        const [N, C] = shape;
        for (let n = 0; n < N; n++) {
          for (let c = 0; c < C; c++) {
            const q = (plan.insIdxs[n] as number) * C + (plan.chanIdxs ? (plan.chanIdxs[c] as number) : c);
            const p = n * C + c;
            const sq = x.std[q] as number;
            const sp = x.std[p] as number;
            expect(Math.abs((y.mean[p] as number) - (x.mean[q] as number))).toBeLessThan(1e-4 * (1 + sq));
            // y = A x + B with A = s_q / s_p (stds with eps), so var_y = A^2 (s_p^2 - eps) exactly.
            const expected = Math.sqrt((sq / sp) ** 2 * (sp * sp - CROSSNORM_EPS) + CROSSNORM_EPS);
            expect(Math.abs((y.std[p] as number) - expected)).toBeLessThan(1e-4 * expected);
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  it('lam = 1 is the identity', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb, fc.nat(), cropArb, async (shape, seed, crop) => {
        const batch = randomBatch(shape, seed);
        const plan = makePlan(shape, seed, 1, { crop, lam: 1, bbxThres: 0 });
        const { data } = await ctx.backend.augment(batch, { plan, selfnorm: null });
        for (let i = 0; i < data.length; i++)
          expect(Math.abs((data[i] as number) - (batch.data[i] as number))).toBeLessThan(
            1e-5 * (1 + Math.abs(batch.data[i] as number)),
          );
      }),
      { numRuns: 25 },
    );
  });

  it('a plan that does not fire leaves the batch as it is', async () => {
    const shape: Shape4 = [3, 4, 5, 6];
    const batch = randomBatch(shape, 7);
    const plan = makePlan(shape, 7, 0, { cnProb: 0 });
    expect(plan.fires).toBe(false);
    const { data } = await ctx.backend.augment(batch, { plan, selfnorm: null });
    expect(Array.from(data)).toEqual(Array.from(batch.data));
  });

  it('SelfNorm train mode returns the BatchNorm batch statistics of each gate', async () => {
    const shape: Shape4 = [4, 3, 5, 5];
    const batch = randomBatch(shape, 3);
    const params = defaultSelfNormParams(3, { seed: 1, two: true });
    const plan = makePlan(shape, 3, 0);
    const r = await ctx.backend.augment(batch, { plan, selfnorm: { mode: 'train', params } });
    expect(r.selfnormStats?.g.mean).toHaveLength(3);
    expect(r.selfnormStats?.f?.var).toHaveLength(3);
    for (const v of r.selfnormStats?.g.unbiasedVar ?? []) expect(v).toBeGreaterThanOrEqual(0);
    const again = await ctx.backend.augment(batch, { plan, selfnorm: { mode: 'eval', params } });
    expect(again.selfnormStats).toBeNull();
  });
});

describe('backends agree with each other', () => {
  it('fused and tfjs (cpu, wasm) agree on random shapes, H != W and N = 1 included', async () => {
    const fused = (await createBackend('fused')).backend;
    const others = [
      (await createBackend('tfjs-cpu')).backend,
      (await createBackend('tfjs-wasm')).backend,
      (await createBackend('fused-js')).backend,
    ];
    await fc.assert(
      fc.asyncProperty(
        shapeArb,
        fc.nat(),
        cropArb,
        fc.boolean(),
        fc.constantFrom('off', 'train', 'eval'),
        fc.boolean(),
        async (shape, seed, crop, chan, sn, two) => {
          const mode = sn === 'train' && shape[0] < 2 ? 'eval' : sn;
          const batch = randomBatch(shape, seed);
          const plan = makePlan(shape, seed, 2, { crop, chan, bbxThres: 0 });
          const selfnorm =
            mode === 'off'
              ? null
              : { mode: mode as 'train' | 'eval', params: defaultSelfNormParams(shape[1], { seed, two }) };
          const want = await fused.augment(batch, { plan, selfnorm });
          for (const other of others) {
            const got = await other.augment(batch, { plan, selfnorm });
            for (let i = 0; i < want.data.length; i++) {
              const e = want.data[i] as number;
              expect(Math.abs((got.data[i] as number) - e), `${other.name} at ${i}`).toBeLessThanOrEqual(
                1e-4 + 1e-4 * Math.abs(e),
              );
            }
          }
        },
      ),
      { numRuns: 40 },
    );
  });
});
