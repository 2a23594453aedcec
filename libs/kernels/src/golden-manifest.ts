import { z } from 'zod';

const box = z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]);
const pair = z.tuple([z.number(), z.number()]);
const bn = z.object({
  weight: z.array(z.number()),
  bias: z.array(z.number()),
  runningMean: z.array(z.number()),
  runningVar: z.array(z.number()),
  eps: z.number(),
});
const plan = z.object({
  crop: z.enum(['neither', 'style', 'content', 'both']),
  insIdxs: z.array(z.number().int()),
  chanIdxs: z.array(z.number().int()).nullable(),
  styleBox: box.nullable(),
  contentBox: box.nullable(),
  lam: z.number().nullable(),
});
const selfnorm = z.object({
  mode: z.enum(['train', 'eval']),
  params: z.object({
    gWeight: z.array(pair),
    gBn: bn,
    fWeight: z.array(pair).optional(),
    fBn: bn.optional(),
  }),
});
const shape = z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]);

export const goldenCaseSchema = z.discriminatedUnion('op', [
  z.object({
    name: z.string(),
    op: z.literal('stats'),
    shape,
    eps: z.number(),
    input: z.string(),
    expectedMean: z.string(),
    expectedStd: z.string(),
  }),
  z.object({
    name: z.string(),
    op: z.literal('crossnorm'),
    shape,
    plan,
    input: z.string(),
    expected: z.string(),
  }),
  z.object({
    name: z.string(),
    op: z.literal('selfnorm'),
    shape,
    selfnorm,
    input: z.string(),
    expected: z.string(),
  }),
  z.object({
    name: z.string(),
    op: z.literal('crossnorm+selfnorm'),
    shape,
    plan,
    selfnorm,
    input: z.string(),
    expected: z.string(),
  }),
]);
export type GoldenCase = z.infer<typeof goldenCaseSchema>;

export const goldenManifestSchema = z.object({ cases: z.array(goldenCaseSchema).min(1) });

/**
 * Checks a parsed manifest.json (the format of testdata/golden, its README describes it; also
 * accepted by `cnsn golden-check`); the error names the field. Reading the files is the caller's business.
 */
export function parseGoldenManifest(raw: unknown, source = 'manifest.json'): GoldenCase[] {
  const parsed = goldenManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${source}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid manifest'}`);
  }
  return parsed.data.cases;
}
