import {
  DEFAULT_CROSSNORM_OPTIONS,
  defaultSelfNormParams,
  resolveCrossNormOptions,
  validateSelfNormParams,
} from '@cnsn/kernels';
import { crossNormOptionsSchema, selfNormParamsSchema } from '@cnsn/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

// The protocol checks a run's options where the driver opens it (it may not load the maths); the
// kernels check them again where they compute. The two must agree, defaults included.

const accepts = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};

describe('the wire schemas agree with the kernels', () => {
  it('CrossNorm options: the same defaults', () => {
    expect(crossNormOptionsSchema.parse({})).toEqual({ ...DEFAULT_CROSSNORM_OPTIONS });
  });

  it('CrossNorm options: the same accepted and refused values, and the same result', () => {
    const value = fc.oneof(
      fc.constant(undefined),
      fc.double({ min: -2, max: 3 }),
      fc.constantFrom(0, 1, 0.1, 0.999, -0, Number.NaN, Infinity, null, 'both', 'x', true),
    );
    fc.assert(
      fc.property(
        fc.record(
          {
            crop: fc.oneof(
              fc.constantFrom('neither', 'style', 'content', 'both', 'all'),
              fc.constant(undefined),
            ),
            chan: fc.oneof(fc.boolean(), fc.constant(undefined), fc.constant(1)),
            beta: value,
            bbxThres: value,
            lam: value,
            cnProb: value,
          },
          { requiredKeys: [] },
        ),
        (options) => {
          const wire = crossNormOptionsSchema.safeParse(options);
          const maths = accepts(() => resolveCrossNormOptions(options as never));
          expect(wire.success, JSON.stringify(options)).toBe(maths);
          if (wire.success) expect(wire.data).toEqual(resolveCrossNormOptions(options as never));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('SelfNorm parameters: the same accepted and refused objects', () => {
    const good = defaultSelfNormParams(4, { seed: 1, two: true });
    const variants: unknown[] = [
      good,
      defaultSelfNormParams(3),
      { ...good, gWeight: good.gWeight.slice(1) },
      { ...good, gBn: { ...good.gBn, runningVar: [1, 1, -1, 1] } },
      { ...good, gBn: { ...good.gBn, eps: 0 } },
      { ...good, fBn: { ...good.gBn, bias: [0, 0, Number.NaN, 0] } },
      { ...good, gWeight: [[1, 2], [3], [4, 5], [6, 7]] },
      {
        ...good,
        gWeight: [
          [1, 2],
          [3, Infinity],
          [4, 5],
          [6, 7],
        ],
      },
      { ...good, fBn: { ...good.gBn, weight: [1, 2, 3] } },
    ];
    for (const params of variants) {
      const wire = selfNormParamsSchema.safeParse(params).success;
      const channels = Array.isArray((params as { gWeight?: unknown[] }).gWeight)
        ? ((params as { gWeight: unknown[] }).gWeight.length as number)
        : 0;
      const maths = accepts(() => validateSelfNormParams(params as never, channels));
      expect(wire, JSON.stringify(params).slice(0, 200)).toBe(maths);
    }
  });
});
