import type { KernelBackend } from './backend.js';
import type { GoldenCase } from './golden-manifest.js';
import { identityPlan } from './plan.js';
import type { Shape4 } from './tensor.js';

/** Reads one tensor file of a golden set (name from the manifest, expected number of float32 values). */
export type GoldenReader = (file: string, length: number) => Promise<Float32Array>;

/** The pass rule of the golden set: |got - expected| <= ATOL + RTOL * |expected|, elementwise. */
export const GOLDEN_ATOL = 1e-4;
export const GOLDEN_RTOL = 1e-4;

export interface CaseOutcome {
  name: string;
  passed: boolean;
  maxAbsErr: number;
  /** The first element out of tolerance, or the error the backend raised. */
  failure?: string;
}

/** Runs one golden case on a backend and compares with the pass rule. */
export async function runGoldenCase(
  backend: KernelBackend,
  c: GoldenCase,
  read: GoldenReader,
): Promise<CaseOutcome> {
  const shape = c.shape as unknown as Shape4;
  const size = shape[0] * shape[1] * shape[2] * shape[3];
  try {
    const input = await read(c.input, size);
    const batch = { data: input, shape };
    if (c.op === 'stats') {
      const planes = shape[0] * shape[1];
      const got = await backend.instanceStats(batch, c.eps);
      const a = compare(got.mean, await read(c.expectedMean, planes), 'mean');
      const b = compare(got.std, await read(c.expectedStd, planes), 'std');
      const failure = a.failure ?? b.failure;
      return {
        name: c.name,
        passed: !failure,
        maxAbsErr: Math.max(a.maxAbsErr, b.maxAbsErr),
        ...(failure ? { failure } : {}),
      };
    }
    const plan = c.op === 'selfnorm' ? identityPlan(shape[0]) : { ...c.plan, fires: true };
    const selfnorm = c.op === 'crossnorm' ? null : c.selfnorm;
    const result = await backend.augment(batch, { plan, selfnorm });
    const cmp = compare(result.data, await read(c.expected, size), 'output');
    return { name: c.name, passed: !cmp.failure, ...cmp };
  } catch (err) {
    return {
      name: c.name,
      passed: false,
      maxAbsErr: Number.POSITIVE_INFINITY,
      failure: (err as Error).message,
    };
  }
}

function compare(
  got: ArrayLike<number>,
  expected: Float32Array,
  what: string,
): { maxAbsErr: number; failure?: string } {
  let maxAbsErr = 0;
  let failure: string | undefined;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const g = got[i] as number;
    const err = Math.abs(g - e);
    if (!(err <= maxAbsErr)) maxAbsErr = Number.isNaN(err) ? Number.POSITIVE_INFINITY : err;
    if (failure === undefined && !(err <= GOLDEN_ATOL + GOLDEN_RTOL * Math.abs(e))) {
      failure = `${what}[${i}]: got ${g}, expected ${e} (|error| ${err})`;
    }
  }
  return failure === undefined ? { maxAbsErr } : { maxAbsErr, failure };
}

/** Runs every case of a set; the summary is what `cnsn golden-check` prints. */
export async function runGoldenSet(
  backend: KernelBackend,
  cases: GoldenCase[],
  read: GoldenReader,
): Promise<{ outcomes: CaseOutcome[]; failed: number; maxAbsErr: number }> {
  const outcomes: CaseOutcome[] = [];
  for (const c of cases) outcomes.push(await runGoldenCase(backend, c, read));
  const failed = outcomes.filter((o) => !o.passed).length;
  const maxAbsErr = outcomes.reduce((m, o) => Math.max(m, o.maxAbsErr), 0);
  return { outcomes, failed, maxAbsErr };
}
