import { randomBytes } from 'node:crypto';
import {
  crossNormOptionsSchema,
  type CrossNormRequest,
  firstIssue,
  SELFNORM_MODES,
  type SelfNormModeSpec,
  selfNormParamsSchema,
  type SelfNormParamsSpec,
} from './augment-options.js';
import { RUN_ID_PATTERN } from './keys.js';
import { contentHash } from './params-hash.js';
import { type DataPlaneKind, ON_ERROR, type OnError, type RunSpec } from './run-spec.js';
import { WIRE_DTYPES, type WireDtype } from './wire-dtype.js';

/** What a driver asks of a run; every field but SelfNorm's parameters has a default. */
export interface RunRequest {
  /** Run id, letters, digits, `_`, `-`. @defaultValue a random id */
  runId?: string;
  /** Seed of every plan of the run. @defaultValue 0 */
  seed?: number;
  /** CrossNorm options (defaults: crop both, chan, beta 1, bbxThres 0.1, no lam, cnProb 1). */
  crossnorm?: CrossNormRequest;
  /** SelfNorm mode and the model's parameters (the driver owns them); null for CrossNorm only. @defaultValue null */
  selfnorm?: { mode: SelfNormModeSpec; params: SelfNormParamsSpec } | null;
  /** @defaultValue 'fail' */
  onError?: OnError;
  /** @defaultValue false */
  allowNonFinite?: boolean;
  /** Precision of tensors on the wire, both ways. @defaultValue 'float32' (bitwise as computed) */
  wire?: WireDtype;
}

/** A checked run spec, plus the SelfNorm parameters as canonical JSON when there are any. */
export interface BuiltRunSpec {
  spec: RunSpec;
  paramsJson: string | null;
}

/** Checks a run request once and turns it into the spec workers read; errors name the field and value. */
export function buildRunSpec(
  request: RunRequest,
  runId: string,
  dataPlane: DataPlaneKind,
  now = Date.now(),
): BuiltRunSpec {
  if (!RUN_ID_PATTERN.test(runId))
    throw new Error(`runId: must match ${RUN_ID_PATTERN}, got ${JSON.stringify(runId)}`);
  const seed = request.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`seed: must be a non-negative integer, got ${seed}`);
  const onError = request.onError ?? 'fail';
  if (!ON_ERROR.includes(onError))
    throw new Error(`onError: must be one of ${ON_ERROR.join(', ')}, got ${JSON.stringify(onError)}`);
  const wire = request.wire ?? 'float32';
  if (!WIRE_DTYPES.includes(wire))
    throw new Error(`wire: must be one of ${WIRE_DTYPES.join(', ')}, got ${JSON.stringify(wire)}`);
  const crossnorm = crossNormOptionsSchema.safeParse(request.crossnorm ?? {});
  if (!crossnorm.success) throw new Error(firstIssue(crossnorm.error, 'crossnorm'));
  let selfnorm: RunSpec['selfnorm'] = null;
  let paramsJson: string | null = null;
  if (request.selfnorm) {
    const { mode } = request.selfnorm;
    if (!SELFNORM_MODES.includes(mode))
      throw new Error(`selfnorm.mode: must be "train" or "eval", got ${JSON.stringify(mode)}`);
    const params = selfNormParamsSchema.safeParse(request.selfnorm.params);
    if (!params.success) throw new Error(firstIssue(params.error, 'selfnorm.params'));
    const { hash, json } = contentHash(params.data);
    selfnorm = { mode, paramsHash: hash, channels: params.data.gWeight.length };
    paramsJson = json;
  }
  return {
    spec: {
      v: 2,
      run: runId,
      incarnation: randomBytes(8).toString('hex'),
      seed,
      crossnorm: crossnorm.data,
      selfnorm,
      onError,
      allowNonFinite: request.allowNonFinite ?? false,
      dataPlane,
      wire,
      createdAt: now,
    },
    paramsJson,
  };
}
