import { type Box, sampleBox, validateBox } from './box-sampler.js';
import { KernelInputError, show } from './errors.js';
import { type Crop, CROPS, type CrossNormOptions, checkLam, resolveCrossNormOptions } from './options.js';
import { Rng } from './rng.js';
import { type Shape4, validateShape } from './tensor.js';

/** Every random choice CrossNorm makes for one batch; applying it is deterministic. */
export interface CrossNormPlan {
  /** Whether CrossNorm fires on this batch (drawn against cnProb); when false the batch passes unchanged. */
  fires: boolean;
  crop: Crop;
  /** Output instance n takes its style from instance insIdxs[n]. */
  insIdxs: number[];
  /** Output channel c takes its style from channel chanIdxs[c]; null without channel shuffling. */
  chanIdxs: number[] | null;
  styleBox: Box | null;
  contentBox: Box | null;
  lam: number | null;
}

/** The plan that leaves a batch as it is (CrossNorm did not fire). */
export function identityPlan(n: number): CrossNormPlan {
  return {
    fires: false,
    crop: 'neither',
    insIdxs: Array.from({ length: n }, (_, i) => i),
    chanIdxs: null,
    styleBox: null,
    contentBox: null,
    lam: null,
  };
}

/**
 * Which plan stream of a seed: a data-parallel rank and an epoch. Rank 0, epoch 0 is the stream runs
 * had before streams existed; distinct (rank, epoch) pairs never share one.
 */
export interface PlanStream {
  rank: number;
  epoch: number;
}

/**
 * The plan at position `seq` of stream (`seed`, `stream`): a pure function of its arguments. Draw
 * order follows the reference: fire?, instance permutation, style box, channel permutation, content
 * box.
 */
export function makePlan(
  shape: Shape4,
  seed: number,
  seq: number,
  options: Partial<CrossNormOptions> = {},
  stream: PlanStream = { rank: 0, epoch: 0 },
): CrossNormPlan {
  const [n, c, h, w] = validateShape(shape, 'shape');
  checkCounter(seed, 'seed');
  checkCounter(seq, 'seq');
  checkCounter(stream.rank, 'rank');
  checkCounter(stream.epoch, 'epoch');
  const o = resolveCrossNormOptions(options);
  const rng = new Rng(seed, seq, [stream.rank, stream.epoch]);
  const fires = rng.float() < o.cnProb;
  if (!fires) return { ...identityPlan(n), crop: o.crop };
  const insIdxs = rng.permutation(n);
  const cropsStyle = o.crop === 'style' || o.crop === 'both';
  const cropsContent = o.crop === 'content' || o.crop === 'both';
  const styleBox = cropsStyle ? sampleBox(rng, h, w, o) : null;
  const chanIdxs = o.chan ? rng.permutation(c) : null;
  const contentBox = cropsContent ? sampleBox(rng, h, w, o) : null;
  return { fires, crop: o.crop, insIdxs, chanIdxs, styleBox, contentBox, lam: o.lam };
}

function checkCounter(v: number, field: string): void {
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new KernelInputError(field, `must be a non-negative safe integer, got ${show(v)}`);
  }
}

/** Checks a plan (e.g. one received over the wire) against the batch shape it will be applied to. */
export function validatePlan(plan: CrossNormPlan, shape: Shape4): CrossNormPlan {
  const [n, c, h, w] = shape;
  if (typeof plan !== 'object' || plan === null)
    throw new KernelInputError('plan', `expected an object, got ${show(plan)}`);
  if (typeof plan.fires !== 'boolean')
    throw new KernelInputError('plan.fires', `must be a boolean, got ${show(plan.fires)}`);
  if (!plan.fires) return plan;
  if (!CROPS.includes(plan.crop)) {
    throw new KernelInputError('plan.crop', `must be one of ${CROPS.join(', ')}, got ${show(plan.crop)}`);
  }
  checkPermutation(plan.insIdxs, n, 'plan.insIdxs');
  if (plan.chanIdxs !== null) checkPermutation(plan.chanIdxs, c, 'plan.chanIdxs');
  const cropsStyle = plan.crop === 'style' || plan.crop === 'both';
  const cropsContent = plan.crop === 'content' || plan.crop === 'both';
  checkBoxPresence(plan.styleBox, cropsStyle, h, w, 'plan.styleBox', plan.crop);
  checkBoxPresence(plan.contentBox, cropsContent, h, w, 'plan.contentBox', plan.crop);
  checkLam(plan.lam, 'plan.lam');
  return plan;
}

function checkBoxPresence(
  box: Box | null,
  needed: boolean,
  h: number,
  w: number,
  field: string,
  crop: Crop,
): void {
  if (needed) validateBox(box, h, w, field);
  else if (box !== null)
    throw new KernelInputError(field, `must be null with crop ${show(crop)}, got ${show(box)}`);
}

function checkPermutation(p: unknown, len: number, field: string): void {
  if (!Array.isArray(p) || p.length !== len) {
    throw new KernelInputError(
      field,
      `expected a permutation of 0..${len - 1} (length ${len}), got ${show(p)}`,
    );
  }
  const seen = new Uint8Array(len);
  for (const v of p) {
    if (!Number.isInteger(v) || v < 0 || v >= len || seen[v as number]) {
      throw new KernelInputError(
        field,
        `is not a permutation of 0..${len - 1}: ${show(v)} is out of range or repeated in ${show(p)}`,
      );
    }
    seen[v as number] = 1;
  }
}
