import { KernelInputError, show } from './errors.js';

/** NCHW shape of a feature batch. */
export type Shape4 = readonly [n: number, c: number, h: number, w: number];

/** A float32 NCHW feature batch: row-major `data` of length N*C*H*W. */
export interface FeatureBatch {
  readonly data: Float32Array;
  readonly shape: Shape4;
}

/** Checks a shape: four positive integers, and H*W >= 2 (an unbiased variance needs two values). */
export function validateShape(shape: unknown, field = 'input.shape'): Shape4 {
  if (!Array.isArray(shape) || shape.length !== 4) {
    throw new KernelInputError(field, `expected a 4-D NCHW shape [N, C, H, W], got ${show(shape)}`);
  }
  shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || (d as number) < 1) {
      throw new KernelInputError(field, `dimension ${i} must be a positive integer, got ${show(d)}`);
    }
  });
  const s = shape as unknown as Shape4;
  if (s[2] * s[3] < 2) {
    throw new KernelInputError(
      field,
      `H*W must be at least 2 (instance variance is unbiased), got ${show(shape)}`,
    );
  }
  return s;
}

/** Options for {@link validateBatch}. */
export interface ValidateBatchOptions {
  /**
   * Let NaN and Inf values through. Off by default: a silent NaN batch poisons a training run.
   * @defaultValue false
   */
  allowNonFinite?: boolean;
}

/** Checks that a batch is float32 NCHW, its data matches its shape, and (by default) all values are finite. */
export function validateBatch(batch: FeatureBatch, options: ValidateBatchOptions = {}): FeatureBatch {
  if (!(batch.data instanceof Float32Array)) {
    const kind =
      (batch.data as unknown as { constructor?: { name?: string } })?.constructor?.name ?? typeof batch.data;
    throw new KernelInputError('input.data', `expected a Float32Array, got ${kind}`);
  }
  const shape = validateShape(batch.shape);
  const size = shape[0] * shape[1] * shape[2] * shape[3];
  if (batch.data.length !== size) {
    throw new KernelInputError(
      'input.data',
      `shape ${show(shape)} needs ${size} values, the data holds ${batch.data.length}`,
    );
  }
  if (!options.allowNonFinite) assertFinite(batch);
  return batch;
}

/** Throws a {@link KernelInputError} naming the first NaN or Inf value and its NCHW position. */
export function assertFinite(batch: FeatureBatch): void {
  const bad = firstNonFinite(batch.data);
  if (bad >= 0) throw nonFiniteError(batch.data[bad] as number, bad, batch.shape);
}

/** The error for the first non-finite value of a batch, `value` at flat index `index`. */
export function nonFiniteError(value: number, index: number, shape: Shape4): KernelInputError {
  return new KernelInputError(
    'input.data',
    `value ${show(value)} at ${show(unravel(index, shape))} (NCHW) is not finite; pass allowNonFinite to let it through`,
  );
}

function firstNonFinite(data: Float32Array): number {
  // x - x is 0 for finite x and NaN for NaN and +-Inf: one branch-light pass.
  let acc = 0;
  for (let i = 0; i < data.length; i++) acc += (data[i] as number) - (data[i] as number);
  if (acc === 0) return -1;
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

function unravel(index: number, shape: Shape4): number[] {
  const [, c, h, w] = shape;
  return [
    Math.floor(index / (c * h * w)),
    Math.floor(index / (h * w)) % c,
    Math.floor(index / w) % h,
    index % w,
  ];
}

/** Number of elements of a shape. */
export function sizeOf(shape: Shape4): number {
  return shape[0] * shape[1] * shape[2] * shape[3];
}
