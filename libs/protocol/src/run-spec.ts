import { type CrossNormOptions, resolveCrossNormOptions } from '@cnsn/kernels';
import { z } from 'zod';
import { RUN_ID_PATTERN } from './keys.js';

/** What a failed batch becomes: `fail` stops the run, `skip` drops it, `passthrough` delivers it unaugmented. */
export const ON_ERROR = ['fail', 'skip', 'passthrough'] as const;
export type OnError = (typeof ON_ERROR)[number];

/**
 * Everything a worker needs to augment any batch of a run, stored once per run in Redis. The plan
 * of batch `seq` is `makePlan(shape, seed, seq, crossnorm)`, so no plan travels with a job.
 */
export interface RunSpec {
  v: 1;
  run: string;
  seed: number;
  crossnorm: CrossNormOptions;
  /** SelfNorm mode and its parameters by content hash (parameters are sent once per run), or null. */
  selfnorm: { mode: 'train' | 'eval'; paramsHash: string; channels: number } | null;
  onError: OnError;
  /** Let NaN/Inf batches through instead of failing them. */
  allowNonFinite: boolean;
  createdAt: number;
}

const runSpecSchema = z
  .object({
    v: z.literal(1),
    run: z.string().regex(RUN_ID_PATTERN),
    seed: z.number().int().nonnegative(),
    crossnorm: z.object({
      crop: z.enum(['neither', 'style', 'content', 'both']),
      chan: z.boolean(),
      beta: z.number(),
      bbxThres: z.number(),
      lam: z.number().nullable(),
      cnProb: z.number(),
    }),
    selfnorm: z
      .object({
        mode: z.enum(['train', 'eval']),
        paramsHash: z.string().regex(/^[0-9a-f]{64}$/),
        channels: z.number().int().positive(),
      })
      .nullable(),
    onError: z.enum(ON_ERROR),
    allowNonFinite: z.boolean(),
    createdAt: z.number(),
  })
  .strict();

/** Parses a stored spec (JSON text), checking every field, the CrossNorm options included. */
export function parseRunSpec(text: string, source: string): RunSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: run spec is not JSON (${(err as Error).message})`);
  }
  const parsed = runSpecSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `${source}: bad run spec: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  resolveCrossNormOptions(parsed.data.crossnorm);
  return parsed.data as RunSpec;
}
