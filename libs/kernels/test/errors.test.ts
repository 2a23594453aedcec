import { describe, expect, it } from 'vitest';
import {
  type AugmentRequest,
  createBackend,
  defaultSelfNormParams,
  type FeatureBatch,
  KernelInputError,
  makePlan,
  resolveCrossNormOptions,
  type Shape4,
} from '../src/index.js';
import { describeEachBackend } from './backends.js';
import { randomBatch } from './random-batch.js';

const shape: Shape4 = [3, 4, 5, 6];
const good = randomBatch(shape, 1);
const plan = makePlan(shape, 1, 0);
const params = defaultSelfNormParams(4);

/** Expects a KernelInputError naming `field` and, when given, the offending value. */
async function expectInputError(
  run: () => Promise<unknown> | unknown,
  field: string,
  value?: string,
): Promise<void> {
  let caught: unknown;
  try {
    await run();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected an error on ${field}`).toBeInstanceOf(KernelInputError);
  expect((caught as KernelInputError).field).toBe(field);
  if (value !== undefined) expect((caught as Error).message).toContain(value);
}

describeEachBackend('bad input', (ctx) => {
  const run =
    (batch: FeatureBatch, request: Partial<AugmentRequest> = {}) =>
    () =>
      ctx.backend.augment(batch, { plan, selfnorm: null, ...request });

  it('refuses data that is not float32', async () => {
    await expectInputError(
      run({ data: new Float64Array(good.data) as unknown as Float32Array, shape }),
      'input.data',
      'Float64Array',
    );
  });
  it('refuses a shape that is not 4-D', async () => {
    await expectInputError(
      run({ data: good.data, shape: [3, 4, 30] as unknown as Shape4 }),
      'input.shape',
      '[3, 4, 30]',
    );
  });
  it('refuses H*W < 2', async () => {
    await expectInputError(run({ data: new Float32Array(12), shape: [3, 4, 1, 1] }), 'input.shape', 'H*W');
  });
  it('refuses a shape that does not match the data', async () => {
    await expectInputError(run({ data: good.data, shape: [3, 4, 5, 5] }), 'input.data', '300');
  });
  it('refuses NaN and Inf by default, naming the position, and lets them through when asked', async () => {
    const data = good.data.slice();
    data[1 * 120 + 2 * 30 + 3 * 6 + 4] = Number.NaN;
    await expectInputError(run({ data, shape }), 'input.data', '[1, 2, 3, 4]');
    const inf = good.data.slice();
    inf[0] = Number.POSITIVE_INFINITY;
    await expectInputError(run({ data: inf, shape }), 'input.data', 'Infinity');
    const passed = await ctx.backend.augment({ data, shape }, { plan, selfnorm: null, allowNonFinite: true });
    expect(passed.data).toHaveLength(data.length);
  });
  it('refuses a permutation that is not one', async () => {
    await expectInputError(run(good, { plan: { ...plan, insIdxs: [0, 0, 1] } }), 'plan.insIdxs', '[0, 0, 1]');
    await expectInputError(run(good, { plan: { ...plan, insIdxs: [0, 1] } }), 'plan.insIdxs', 'length 3');
    await expectInputError(
      run(good, { plan: { ...plan, chan: undefined, chanIdxs: [0, 1, 2, 4] } as never }),
      'plan.chanIdxs',
      '4',
    );
  });
  it('refuses a box out of range, under 2 elements, or where the crop has none', async () => {
    await expectInputError(
      run(good, { plan: { ...plan, crop: 'both', contentBox: [0, 0, 6, 2] } }),
      'plan.contentBox',
      '[0, 0, 6, 2]',
    );
    await expectInputError(
      run(good, { plan: { ...plan, crop: 'both', styleBox: [1, 1, 2, 2] } }),
      'plan.styleBox',
      '1 element',
    );
    await expectInputError(
      run(good, { plan: { ...plan, crop: 'neither', contentBox: [0, 0, 2, 2], styleBox: null } }),
      'plan.contentBox',
      'null',
    );
  });
  it('refuses lam outside [0, 1]', async () => {
    await expectInputError(run(good, { plan: { ...plan, lam: 1.5 } }), 'plan.lam', '1.5');
  });
  it('refuses SelfNorm parameters of the wrong length or with negative variances', async () => {
    const short = { ...params, gWeight: params.gWeight.slice(0, 3) };
    await expectInputError(
      run(good, { selfnorm: { mode: 'eval', params: short } }),
      'selfnorm.params.gWeight',
      '4 pairs',
    );
    const negative = { ...params, gBn: { ...params.gBn, runningVar: [1, -0.5, 1, 1] } };
    await expectInputError(
      run(good, { selfnorm: { mode: 'eval', params: negative } }),
      'selfnorm.params.gBn.runningVar[1]',
      '-0.5',
    );
    await expectInputError(
      run(good, { selfnorm: { mode: 'fit' as never, params } }),
      'selfnorm.mode',
      '"fit"',
    );
  });
  it('refuses SelfNorm train mode on a batch of one, as PyTorch does', async () => {
    const one = randomBatch([1, 4, 5, 6], 2);
    await expectInputError(
      () =>
        ctx.backend.augment(one, { plan: makePlan(one.shape, 1, 0), selfnorm: { mode: 'train', params } }),
      'selfnorm.mode',
      'N = 1',
    );
  });
});

describe('bad options', () => {
  it('names each field and value', async () => {
    await expectInputError(() => resolveCrossNormOptions({ beta: 0 }), 'beta', '0');
    await expectInputError(() => resolveCrossNormOptions({ beta: -1 }), 'beta', '-1');
    await expectInputError(() => resolveCrossNormOptions({ bbxThres: 1 }), 'bbxThres', '1');
    await expectInputError(() => resolveCrossNormOptions({ bbxThres: -0.1 }), 'bbxThres', '-0.1');
    await expectInputError(() => resolveCrossNormOptions({ cnProb: 1.01 }), 'cnProb', '1.01');
    await expectInputError(() => resolveCrossNormOptions({ lam: -0.2 }), 'lam', '-0.2');
    await expectInputError(() => resolveCrossNormOptions({ crop: 'all' as never }), 'crop', '"all"');
    await expectInputError(() => makePlan(shape, -1, 0), 'seed', '-1');
  });
  it('says when a map is too small for the crop', async () => {
    await expectInputError(() => makePlan([2, 2, 2, 2], 0, 0, { crop: 'both' }), 'bbxThres', '2x2 map');
  });
  it('refuses an unknown backend name', async () => {
    await expectInputError(() => createBackend('cuda' as never), 'backend', '"cuda"');
  });
});
