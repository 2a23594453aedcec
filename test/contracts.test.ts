import {
  DEFAULT_CROSSNORM_OPTIONS,
  defaultSelfNormParams,
  resolveCrossNormOptions,
  validateSelfNormParams,
} from '@cnsn/kernels';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildRunSpec,
  crossNormOptionsSchema,
  RUN_OPTIONS,
  runOptionDefault,
  runOptionTable,
  selfNormParamsSchema,
} from '@cnsn/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCnsn } from './support/index.js';

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

describe('run options are declared once (RUN_OPTIONS)', () => {
  const cells = (table: string): string[][] =>
    table
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('|') && !/^\|\s*-+/.test(line))
      .map((line) =>
        line
          .split(/(?<!\\)\|/)
          .slice(1, -1)
          .map((c) => c.trim()),
      );

  it("the README's table is the declarations' (npm run cnsn -- options prints it)", async () => {
    const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = /<!-- run-options:start -->([\s\S]*?)<!-- run-options:end -->/.exec(readme)?.[1] ?? '';
    expect(cells(section), `README.md's run options; expected:\n${runOptionTable()}`).toEqual(
      cells(runOptionTable()),
    );
  });

  it("docs/python.md's open_run names are the declared ones, and the kernels' CrossNorm defaults too", async () => {
    const python = await readFile(join(REPO_ROOT, 'docs/python.md'), 'utf8');
    // open_run's keyword arguments and the keys of its crossnorm dict, as docs/python.md spells them.
    const call = /p\.open_run\(([\s\S]*?)\n {4}\)/.exec(python)?.[1] ?? '';
    const crossnorm = /crossnorm=\{([^}]*)\}/.exec(call)?.[1] ?? '';
    const named = [...call.matchAll(/(\w+)=/g), ...crossnorm.matchAll(/"(\w+)":/g)].map(
      (m) => m[1] as string,
    );
    expect(named.length).toBeGreaterThan(15);
    const declared = new Set(RUN_OPTIONS.map((o) => o.python));
    for (const name of named.filter((n) => n !== 'crossnorm'))
      expect(declared.has(name), `docs/python.md's ${name} is declared in RUN_OPTIONS`).toBe(true);
    for (const o of RUN_OPTIONS.filter((d) => d.group === 'crossnorm'))
      expect(DEFAULT_CROSSNORM_OPTIONS[o.key as keyof typeof DEFAULT_CROSSNORM_OPTIONS], o.key).toEqual(
        o.default,
      );
    expect(buildRunSpec({}, 'r', 'redis').spec).toMatchObject({
      seed: runOptionDefault('seed'),
      onError: runOptionDefault('onError'),
      wire: runOptionDefault('wire'),
      allowNonFinite: runOptionDefault('allowNonFinite'),
      stream: {
        rank: runOptionDefault('rank'),
        epoch: runOptionDefault('epoch'),
        start: runOptionDefault('start'),
      },
    });
  });

  it('cnsn run takes every option, with its declared default', async () => {
    const help = await runCnsn(['run', '--help']);
    expect(help.code).toBe(0);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const o of RUN_OPTIONS) {
      expect(text, `run --help lists ${o.flag}`).toContain(o.flag);
      const fallback = o.cliDefault ?? o.default;
      if (o.kind !== 'flag' && o.kind !== 'negatable' && fallback !== null)
        expect(text, `${o.flag} defaults to ${fallback}`).toContain(`default: ${JSON.stringify(fallback)})`);
    }
  });
});
