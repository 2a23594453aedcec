import { expect, it } from 'vitest';
import { runGoldenCase } from '../src/index.js';
import { describeEachBackend } from './backends.js';
import { goldenCases, readGolden } from './golden-dir.js';

const cases = await goldenCases();

it('the golden set holds the 75 cases of the reference', () => {
  expect(cases).toHaveLength(75);
});

describeEachBackend('golden cases', (ctx) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const outcome = await runGoldenCase(ctx.backend, c, readGolden);
    expect(outcome.failure).toBeUndefined();
    expect(outcome.passed).toBe(true);
  });
});
