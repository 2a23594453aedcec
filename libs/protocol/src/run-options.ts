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
import { runOptionDefault } from './run-option-declarations.js';
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
  /** Data-parallel rank: its own plan stream (see `epoch`). @defaultValue 0 */
  rank?: number;
  /** Epoch: its own plan stream; rank 0, epoch 0 is the historical one. @defaultValue 0 */
  epoch?: number;
  /**
   * Position in the stream of the run's first batch: batch k gets the plan batch `start + k` has in
   * a run from 0 (a trainer resuming from its checkpoint). @defaultValue 0
   */
  start?: number;
  /**
   * Deliver with each batch the per-(instance, channel) mean and std (unbiased, eps 1e-12, as the
   * paper's SelfNorm) of the CrossNorm output, computed in float64, for a trainer's own SelfNorm.
   * Needs `selfnorm: null` (the output is then CrossNorm's). @defaultValue false
   */
  returnStats?: boolean;
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
  const seed = request.seed ?? runOptionDefault<number>('seed');
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`seed: must be a non-negative integer, got ${seed}`);
  const onError = request.onError ?? runOptionDefault<OnError>('onError');
  if (!ON_ERROR.includes(onError))
    throw new Error(`onError: must be one of ${ON_ERROR.join(', ')}, got ${JSON.stringify(onError)}`);
  const wire = request.wire ?? runOptionDefault<WireDtype>('wire');
  if (!WIRE_DTYPES.includes(wire))
    throw new Error(`wire: must be one of ${WIRE_DTYPES.join(', ')}, got ${JSON.stringify(wire)}`);
  const stream = {
    rank: counter(request.rank, 'rank'),
    epoch: counter(request.epoch, 'epoch'),
    start: counter(request.start, 'start'),
  };
  const returnStats = request.returnStats ?? runOptionDefault<boolean>('returnStats');
  if (returnStats && request.selfnorm)
    throw new Error(
      'returnStats: gives the statistics of the CrossNorm output for a SelfNorm in the trainer; open the run with selfnorm null (the pipeline applying SelfNorm too would change the output they describe)',
    );
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
      stream,
      ...(returnStats ? { returnStats } : {}),
      onError,
      allowNonFinite: request.allowNonFinite ?? runOptionDefault<boolean>('allowNonFinite'),
      dataPlane,
      wire,
      createdAt: now,
    },
    paramsJson,
  };
}

/**
 * A SelfNorm parameter set a driver gives mid-run (`setSelfNorm`): checked as at open (every field,
 * one entry per channel of the run) and addressed by its content.
 */
export function checkSelfNormParams(
  params: SelfNormParamsSpec,
  channels: number,
): { hash: string; json: string } {
  // A trainer may update every batch: a well-formed set takes the fast check alone; anything else
  // goes through the schema, which names what is wrong.
  if (!wellFormedSelfNorm(params, channels)) {
    const parsed = selfNormParamsSchema.safeParse(params);
    if (!parsed.success) throw new Error(firstIssue(parsed.error, 'selfnorm.params'));
    throw new Error(
      `selfnorm.params.gWeight: the run has ${channels} channels, these parameters are for ${parsed.data.gWeight.length}`,
    );
  }
  return contentHash(params);
}

/** What selfNormParamsSchema accepts, for `channels` channels, checked in plain loops. */
function wellFormedSelfNorm(p: SelfNormParamsSpec, channels: number): boolean {
  const finite = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
  const pairs = (w: unknown): boolean =>
    Array.isArray(w) &&
    w.length === channels &&
    w.every((x) => Array.isArray(x) && x.length === 2 && finite(x[0]) && finite(x[1]));
  const values = (a: unknown, min = -Infinity): boolean =>
    Array.isArray(a) && a.length === channels && a.every((v) => finite(v) && (v as number) >= min);
  const bn = (b: unknown): boolean => {
    if (!b || typeof b !== 'object') return false;
    const o = b as Record<string, unknown>;
    return (
      Object.keys(o).length === 5 &&
      values(o.weight) &&
      values(o.bias) &&
      values(o.runningMean) &&
      values(o.runningVar, 0) &&
      finite(o.eps) &&
      (o.eps as number) > 0
    );
  };
  if (!p || typeof p !== 'object') return false;
  const keys = Object.keys(p);
  const two = p.fWeight !== undefined || p.fBn !== undefined;
  return (
    keys.length === (two ? 4 : 2) &&
    pairs(p.gWeight) &&
    bn(p.gBn) &&
    (!two || (pairs(p.fWeight) && bn(p.fBn)))
  );
}

/** A stream counter (rank, epoch, start): a non-negative safe integer, 0 when not given. */
function counter(value: number | undefined, field: string): number {
  const v = value ?? runOptionDefault<number>(field);
  if (!Number.isSafeInteger(v) || v < 0)
    throw new Error(`${field}: must be a non-negative integer, got ${v}`);
  return v;
}
