import { KernelInputError, show } from './errors.js';
import { Rng } from './rng.js';

/** One BatchNorm1d: affine weight and bias, running statistics, eps (golden manifest form). */
export interface BatchNormParams {
  weight: number[];
  bias: number[];
  runningMean: number[];
  runningVar: number[];
  eps: number;
}

/**
 * SelfNorm's weights, owned by the model being trained (the driver sends them).
 * `gWeight[c] = [weight on mean, weight on std]` of the grouped Conv1d; `fWeight`/`fBn` only with two gates.
 */
export interface SelfNormParams {
  gWeight: Array<[number, number]>;
  gBn: BatchNormParams;
  fWeight?: Array<[number, number]>;
  fBn?: BatchNormParams;
}

/** train: BatchNorm uses the batch statistics (biased variance over N); eval: the running ones. */
export type SelfNormMode = 'train' | 'eval';

export interface SelfNormConfig {
  mode: SelfNormMode;
  params: SelfNormParams;
}

/** Checks SelfNorm parameters against a channel count; errors name the field and the value. */
export function validateSelfNormParams(params: SelfNormParams, channels: number): SelfNormParams {
  if (typeof params !== 'object' || params === null) {
    throw new KernelInputError('selfnorm.params', `expected an object, got ${show(params)}`);
  }
  checkWeights(params.gWeight, channels, 'selfnorm.params.gWeight');
  checkBn(params.gBn, channels, 'selfnorm.params.gBn');
  const hasF = params.fWeight !== undefined || params.fBn !== undefined;
  if (hasF) {
    checkWeights(params.fWeight, channels, 'selfnorm.params.fWeight');
    checkBn(params.fBn, channels, 'selfnorm.params.fBn');
  }
  return params;
}

/** Checks a SelfNorm config (mode and params). */
export function validateSelfNormConfig(config: SelfNormConfig, channels: number): SelfNormConfig {
  if (config.mode !== 'train' && config.mode !== 'eval') {
    throw new KernelInputError('selfnorm.mode', `must be "train" or "eval", got ${show(config.mode)}`);
  }
  validateSelfNormParams(config.params, channels);
  return config;
}

export function isTwoGate(params: SelfNormParams): boolean {
  return params.fWeight !== undefined;
}

function checkWeights(w: unknown, channels: number, field: string): void {
  if (!Array.isArray(w) || w.length !== channels) {
    throw new KernelInputError(
      field,
      `expected ${channels} pairs [wMean, wStd] (one per channel), got ${show(w)}`,
    );
  }
  w.forEach((pair, c) => {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      !pair.every((v) => typeof v === 'number' && Number.isFinite(v))
    ) {
      throw new KernelInputError(`${field}[${c}]`, `expected two finite numbers, got ${show(pair)}`);
    }
  });
}

function checkBn(bn: unknown, channels: number, field: string): void {
  if (typeof bn !== 'object' || bn === null)
    throw new KernelInputError(field, `expected an object, got ${show(bn)}`);
  const b = bn as Record<string, unknown>;
  for (const key of ['weight', 'bias', 'runningMean', 'runningVar'] as const) {
    const v = b[key];
    if (!Array.isArray(v) || v.length !== channels) {
      throw new KernelInputError(
        `${field}.${key}`,
        `expected ${channels} numbers (one per channel), got ${show(v)}`,
      );
    }
    v.forEach((x, c) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw new KernelInputError(`${field}.${key}[${c}]`, `must be a finite number, got ${show(x)}`);
      }
      if (key === 'runningVar' && x < 0) {
        throw new KernelInputError(`${field}.${key}[${c}]`, `a variance cannot be negative, got ${show(x)}`);
      }
    });
  }
  if (!(typeof b.eps === 'number' && b.eps > 0 && Number.isFinite(b.eps))) {
    throw new KernelInputError(`${field}.eps`, `must be a finite number > 0, got ${show(b.eps)}`);
  }
}

/** Options of {@link defaultSelfNormParams}. */
export interface DefaultSelfNormOptions {
  /** Seed of the Conv1d weight draw. @defaultValue 0 */
  seed?: number;
  /** Make the two-gate variant. @defaultValue false */
  two?: boolean;
}

/**
 * PyTorch's default initialisation of SelfNorm, from a seed: Conv1d weights (kernel 2, one input
 * channel per group, so fan_in 2) ~ U(-1/sqrt(2), 1/sqrt(2)) (kaiming_uniform with a = sqrt(5));
 * BatchNorm weight 1, bias 0, running mean 0, running variance 1, eps 1e-5.
 */
export function defaultSelfNormParams(
  channels: number,
  options: DefaultSelfNormOptions = {},
): SelfNormParams {
  if (!Number.isSafeInteger(channels) || channels < 1) {
    throw new KernelInputError('channels', `must be a positive integer, got ${show(channels)}`);
  }
  const rng = new Rng(options.seed ?? 0, 0x5e1f);
  const bound = 1 / Math.sqrt(2);
  const weights = (): Array<[number, number]> =>
    Array.from({ length: channels }, () => [(2 * rng.float() - 1) * bound, (2 * rng.float() - 1) * bound]);
  const bn = (): BatchNormParams => ({
    weight: new Array<number>(channels).fill(1),
    bias: new Array<number>(channels).fill(0),
    runningMean: new Array<number>(channels).fill(0),
    runningVar: new Array<number>(channels).fill(1),
    eps: 1e-5,
  });
  const params: SelfNormParams = { gWeight: weights(), gBn: bn() };
  if (options.two) {
    params.fWeight = weights();
    params.fBn = bn();
  }
  return params;
}
