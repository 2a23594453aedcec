import { z } from 'zod';
import { firstIssue } from './augment-options.js';
import { ProtocolError } from './errors.js';
import { INCARNATION_PATTERN, RUN_ID_PATTERN } from './keys.js';
import { DATA_PLANE_JOBS, DATA_PLANES } from './run-spec.js';

/** A run's secret on the direct plane: URL-safe, 32 to 128 characters. */
export const RUN_SECRET_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;

/**
 * BullMQ job data of one batch: references only, never the bytes. `plane` says where the bytes
 * are: in Redis under the batch's keys, or with the run's driver (direct: the worker finds the
 * driver's endpoint in the run's state and shows it the run's `secret`).
 */
export const batchJobDataSchema = z
  .object({
    run: z.string().regex(RUN_ID_PATTERN),
    /** The run's incarnation: a worker's cached spec of an earlier run of the same id is not used. */
    inc: z.string().regex(INCARNATION_PATTERN).optional(),
    seq: z.number().int().nonnegative(),
    shape: z.array(z.number().int().positive()).length(4),
    /** Size of the input blob, for the worker's bound check before it fetches it. */
    bytes: z.number().int().positive(),
    plane: z.enum(DATA_PLANES),
    secret: z.string().regex(RUN_SECRET_PATTERN).optional(),
    /** The SelfNorm parameter set this batch uses (content hash), when the driver changed it. */
    paramsHash: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    /** Which set it is: 0 for the run's own, then one more for each change. */
    paramsVersion: z.number().int().nonnegative().optional(),
  })
  .strict()
  .refine((d) => DATA_PLANE_JOBS[d.plane].secret === (d.secret !== undefined), {
    message: `the run secret goes with jobs of the ${DATA_PLANES.filter((p) => DATA_PLANE_JOBS[p].secret).join(', ')} plane, with no other`,
    path: ['secret'],
  });

export type BatchJobData = z.output<typeof batchJobDataSchema>;

/** Checks job data as received (it is data from Redis, never trusted). */
export function parseBatchJobData(raw: unknown, source: string): BatchJobData {
  const parsed = batchJobDataSchema.safeParse(raw);
  if (!parsed.success) throw new ProtocolError(source, `bad job data: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/** How a delivered batch came out. */
export type BatchStatus = 'ok' | 'passthrough';

/** The `meta` of a result blob: what the worker did, for the driver. */
export interface ResultMeta {
  seq: number;
  status: BatchStatus;
  /** The CrossNorm plan applied (JSON of the kernels' CrossNormPlan). */
  plan: unknown;
  /** SelfNorm train mode: BatchNorm batch statistics per gate ({ g: { mean, var, unbiasedVar }, f? }). */
  selfnormStats: unknown;
  backend: string;
  worker: string;
  /** Which SelfNorm parameter set the batch used (0: the run's own). */
  selfnormVersion?: number;
  /** With `returnStats`: per-(instance, channel) mean and std of the CrossNorm output, N*C each. */
  stats?: { mean: number[]; std: number[] };
}

/** The record of a batch that failed for good (stored as JSON under the failure key). */
export interface FailureRecord {
  seq: number;
  reason: string;
  /** The field at fault when the kernels named one (e.g. `input.data`). */
  field?: string;
  worker: string;
  at: number;
}
