import { z } from 'zod';
import { CROPS } from './choices.js';
import { runOptionDefault } from './run-option-declarations.js';

/**
 * The augmentation options as they travel (run spec): CrossNorm's options with their defaults, and
 * SelfNorm's parameters. The wire contract checks form and ranges; the kernels check them again
 * where they compute (a test keeps the two in agreement, defaults included).
 */
export { CROPS } from './choices.js';

const finite = z.number().finite();

export const crossNormOptionsSchema = z
  .object({
    /** Which regions are cropped. @defaultValue 'both' (RUN_OPTIONS) */
    crop: z.enum(CROPS).default(runOptionDefault<(typeof CROPS)[number]>('crop')),
    /** Shuffle channels too. @defaultValue true (RUN_OPTIONS) */
    chan: z.boolean().default(runOptionDefault<boolean>('chan')),
    /** Beta(beta, beta) parameter of the box sampler. @defaultValue 1 (RUN_OPTIONS) */
    beta: finite.positive().default(runOptionDefault<number>('beta')),
    /** Minimum box area ratio (exclusive). @defaultValue 0.1 (RUN_OPTIONS) */
    bbxThres: z.number().min(0).lt(1).default(runOptionDefault<number>('bbxThres')),
    /** Mix weight; null for none. @defaultValue null (RUN_OPTIONS) */
    lam: z.number().min(0).max(1).nullable().default(runOptionDefault<number | null>('lam')),
    /** Probability that CrossNorm fires on a batch. @defaultValue 1 (RUN_OPTIONS) */
    cnProb: z.number().min(0).max(1).default(runOptionDefault<number>('cnProb')),
  })
  .strict();

/** CrossNorm options as given (every field optional). */
export type CrossNormRequest = z.input<typeof crossNormOptionsSchema>;
/** CrossNorm options with every default filled. */
export type CrossNormSpec = z.output<typeof crossNormOptionsSchema>;

const batchNormSchema = z
  .object({
    weight: z.array(finite),
    bias: z.array(finite),
    runningMean: z.array(finite),
    runningVar: z.array(finite.nonnegative()),
    eps: finite.positive(),
  })
  .strict();

/** SelfNorm's parameters (the model's own), golden-manifest form; one entry per channel everywhere. */
export const selfNormParamsSchema = z
  .object({
    gWeight: z.array(z.tuple([finite, finite])).min(1),
    gBn: batchNormSchema,
    fWeight: z.array(z.tuple([finite, finite])).optional(),
    fBn: batchNormSchema.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    const channels = p.gWeight.length;
    const lengths: Array<[string, unknown[] | undefined]> = [
      ['gBn.weight', p.gBn.weight],
      ['gBn.bias', p.gBn.bias],
      ['gBn.runningMean', p.gBn.runningMean],
      ['gBn.runningVar', p.gBn.runningVar],
      ['fWeight', p.fWeight],
      ['fBn.weight', p.fBn?.weight],
      ['fBn.bias', p.fBn?.bias],
      ['fBn.runningMean', p.fBn?.runningMean],
      ['fBn.runningVar', p.fBn?.runningVar],
    ];
    for (const [path, values] of lengths) {
      if (values !== undefined && values.length !== channels)
        ctx.addIssue({
          code: 'custom',
          path: path.split('.'),
          message: `expected ${channels} entries (one per channel, as gWeight), got ${values.length}`,
        });
    }
    if ((p.fWeight === undefined) !== (p.fBn === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['fWeight'],
        message: 'the second gate needs both fWeight and fBn',
      });
  });

export type SelfNormParamsSpec = z.output<typeof selfNormParamsSchema>;

export { SELFNORM_MODES } from './choices.js';
export type { SelfNormModeSpec } from './choices.js';

/** The first problem zod found, as `path: message` (paths joined with dots). */
export function firstIssue(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter(Boolean).join('.');
  return `${path || 'value'}: ${issue?.message ?? 'invalid'}`;
}
