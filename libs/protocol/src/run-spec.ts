import { z } from 'zod';
import { crossNormOptionsSchema, firstIssue } from './augment-options.js';
import { DATA_PLANES, ON_ERROR, SELFNORM_MODES } from './choices.js';

export { DATA_PLANE_JOBS, DATA_PLANES, ON_ERROR } from './choices.js';
export type { DataPlaneKind, OnError } from './choices.js';
import { INCARNATION_PATTERN, RUN_ID_PATTERN } from './keys.js';
import { WIRE_DTYPES } from './wire-dtype.js';

/**
 * Everything a worker needs to augment any batch of a run, stored once per run in Redis. The plan
 * of batch `seq` is `makePlan(shape, seed, start + seq, crossnorm, {rank, epoch})`, so no plan
 * travels with a job.
 */
export const runSpecSchema = z
  .object({
    v: z.literal(2),
    run: z.string().regex(RUN_ID_PATTERN),
    /** Random, made when the run is created (not on resume): its job ids carry it (see jobId). */
    incarnation: z.string().regex(INCARNATION_PATTERN).optional(),
    seed: z.number().int().nonnegative(),
    crossnorm: crossNormOptionsSchema.required(),
    /** SelfNorm mode and its parameters by content hash (sent once per run), or null. */
    selfnorm: z
      .object({
        mode: z.enum(SELFNORM_MODES),
        paramsHash: z.string().regex(/^[0-9a-f]{64}$/),
        channels: z.number().int().positive(),
      })
      .strict()
      .nullable(),
    /**
     * The plan stream: batch `seq` of the run gets the plan at position `start + seq` of stream
     * (seed, rank, epoch). Absent in specs stored before streams: rank 0, epoch 0, start 0.
     */
    stream: z
      .object({
        rank: z.number().int().nonnegative(),
        epoch: z.number().int().nonnegative(),
        start: z.number().int().nonnegative(),
      })
      .strict()
      .optional(),
    /** Deliver each batch's per-(instance, channel) mean and std of the CrossNorm output. */
    returnStats: z.boolean().optional(),
    onError: z.enum(ON_ERROR),
    /** Let NaN/Inf batches through instead of failing them. */
    allowNonFinite: z.boolean(),
    /** The plane the run's tensors take. */
    dataPlane: z.enum(DATA_PLANES),
    /** Precision of tensors on the wire, both ways (the kernels compute in float32). */
    wire: z.enum(WIRE_DTYPES),
    createdAt: z.number(),
  })
  .strict();

export type RunSpec = z.output<typeof runSpecSchema>;

/** A spec's plan stream, with the defaults of specs stored before streams. */
export function streamOf(spec: RunSpec): { rank: number; epoch: number; start: number } {
  return spec.stream ?? { rank: 0, epoch: 0, start: 0 };
}

/** Parses a stored spec (JSON text), checking every field. */
export function parseRunSpec(text: string, source: string): RunSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: run spec is not JSON (${(err as Error).message})`);
  }
  const parsed = runSpecSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${source}: bad run spec: ${firstIssue(parsed.error)}`);
  return parsed.data;
}
