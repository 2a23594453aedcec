import { z } from 'zod';
import { ProtocolError } from './errors.js';
import { RUN_ID_PATTERN } from './keys.js';

/** BullMQ job data of one batch: references only; the tensor bytes live in their own key. */
export interface BatchJobData {
  run: string;
  seq: number;
  shape: number[];
  /** Size of the input blob, for the worker's bound check before it fetches it. */
  bytes: number;
}

const jobDataSchema = z
  .object({
    run: z.string().regex(RUN_ID_PATTERN),
    seq: z.number().int().nonnegative(),
    shape: z.array(z.number().int().positive()).length(4),
    bytes: z.number().int().positive(),
  })
  .strict();

/** Checks job data as received (it is data from Redis, never trusted). */
export function parseBatchJobData(raw: unknown, source: string): BatchJobData {
  const parsed = jobDataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ProtocolError(
      source,
      `bad job data: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
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
