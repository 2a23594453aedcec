import {
  type CrossNormOptions,
  resolveCrossNormOptions,
  type SelfNormMode,
  type SelfNormParams,
  validateSelfNormParams,
} from '@cnsn/kernels';
import { RUN_ID_PATTERN } from './keys.js';
import { contentHash } from './params-hash.js';
import { ON_ERROR, type OnError, type RunSpec } from './run-spec.js';

/** What a driver asks of a run; every field but SelfNorm's parameters has a default. */
export interface RunRequest {
  /** Run id, letters, digits, `_`, `-`. @defaultValue a random id */
  runId?: string;
  /** Seed of every plan of the run. @defaultValue 0 */
  seed?: number;
  /** CrossNorm options (see the kernels' defaults: crop both, chan, beta 1, bbxThres 0.1, no lam, cnProb 1). */
  crossnorm?: Partial<CrossNormOptions>;
  /** SelfNorm mode and the model's parameters (the driver owns them); null for CrossNorm only. @defaultValue null */
  selfnorm?: { mode: SelfNormMode; params: SelfNormParams } | null;
  /** @defaultValue 'fail' */
  onError?: OnError;
  /** @defaultValue false */
  allowNonFinite?: boolean;
}

/** A checked run spec, plus the SelfNorm parameters as canonical JSON when there are any. */
export interface BuiltRunSpec {
  spec: RunSpec;
  paramsJson: string | null;
}

/** Checks a run request once and turns it into the spec workers read; errors name the field and value. */
export function buildRunSpec(request: RunRequest, runId: string, now = Date.now()): BuiltRunSpec {
  if (!RUN_ID_PATTERN.test(runId))
    throw new Error(`runId: must match ${RUN_ID_PATTERN}, got ${JSON.stringify(runId)}`);
  const seed = request.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`seed: must be a non-negative integer, got ${seed}`);
  const onError = request.onError ?? 'fail';
  if (!ON_ERROR.includes(onError))
    throw new Error(`onError: must be one of ${ON_ERROR.join(', ')}, got ${JSON.stringify(onError)}`);
  const crossnorm = resolveCrossNormOptions(request.crossnorm ?? {});
  let selfnorm: RunSpec['selfnorm'] = null;
  let paramsJson: string | null = null;
  if (request.selfnorm) {
    const { mode, params } = request.selfnorm;
    if (mode !== 'train' && mode !== 'eval')
      throw new Error(`selfnorm.mode: must be "train" or "eval", got ${JSON.stringify(mode)}`);
    const channels = Array.isArray(params?.gWeight) ? params.gWeight.length : 0;
    validateSelfNormParams(params, channels);
    const { hash, json } = contentHash(params);
    selfnorm = { mode, paramsHash: hash, channels };
    paramsJson = json;
  }
  return {
    spec: {
      v: 1,
      run: runId,
      seed,
      crossnorm,
      selfnorm,
      onError,
      allowNonFinite: request.allowNonFinite ?? false,
      createdAt: now,
    },
    paramsJson,
  };
}
