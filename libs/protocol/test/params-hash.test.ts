import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/index.js';

/** The first implementation (a replacer that sorts keys): stored hashes were made with it. */
function oracle(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

describe('canonicalJson', () => {
  it('writes every JSON value as the first implementation did (hashes stay the same)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(v)).toBe(oracle(v));
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts keys at every level, and a SelfNorm parameter set as before', () => {
    const params = {
      gWeight: [
        [0.5, -1.25],
        [2, 3e-7],
      ],
      gBn: { weight: [1, 1], bias: [0, -0], runningVar: [1, 2], runningMean: [0.1, 0.2], eps: 1e-5 },
    };
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson(params)).toBe(oracle(params));
  });
});
