import type { Box } from './box-sampler.js';
import type { CrossNormPlan } from './plan.js';
import type { BatchNormParams, SelfNormConfig } from './selfnorm-params.js';
import type { Shape4 } from './tensor.js';

/** Instance-statistics eps of CrossNorm and of SelfNorm, as in the reference. */
export const CROSSNORM_EPS = 1e-5;
export const SELFNORM_EPS = 1e-12;

/**
 * Per-plane sums gathered by one read of the input: six float64 arrays of P = N*C values, each
 * indexed by plane: whole-map sum and sum of squares, the same over the content box, then over the
 * style box (box arrays are unused when the plan has no such box).
 */
export const SUMS_PER_PLANE = 6;

/** BatchNorm1d batch statistics of one SelfNorm gate, for the driver's running averages. */
export interface BatchNormBatchStats {
  /** Mean over the batch of the gate's pre-BN value z, per channel. */
  mean: Float64Array;
  /** Biased variance (what BatchNorm normalises with), per channel. */
  var: Float64Array;
  /** Unbiased variance (what PyTorch folds into running_var), per channel. */
  unbiasedVar: Float64Array;
}

export interface SelfNormBatchStats {
  g: BatchNormBatchStats;
  f?: BatchNormBatchStats;
}

/**
 * The whole CrossNorm -> SelfNorm chain as `out = alpha * x + beta` per plane and region:
 * "in" is the content box (the whole map when the plan has none), "out" the rest of the map.
 */
export interface Coefficients {
  alphaIn: Float32Array;
  betaIn: Float32Array;
  alphaOut: Float32Array;
  betaOut: Float32Array;
  selfnormStats: SelfNormBatchStats | null;
}

export function boxArea(box: Box | null, hw: number): number {
  return box ? (box[2] - box[0]) * (box[3] - box[1]) : hw;
}

/** mean and sqrt(unbiased variance + eps) from a sum, a sum of squares and a count; variance clamped at 0. */
export function meanStd(s: number, q: number, n: number, eps: number): [number, number] {
  const mean = s / n;
  const v = (q - (s * s) / n) / (n - 1);
  return [mean, Math.sqrt((v > 0 ? v : 0) + eps)];
}

/** Turns gathered sums into the affine coefficients of the fused chain (docs/design.md, "The algebra"). */
export function computeCoefficients(
  sums: Float64Array,
  shape: Shape4,
  plan: CrossNormPlan,
  selfnorm: SelfNormConfig | null,
): Coefficients {
  const planes = shape[0] * shape[1];
  const cn = crossNormAffine(sums, shape, plan);
  const { a, b } = cn;
  const alphaIn = new Float32Array(planes);
  const betaIn = new Float32Array(planes);
  const alphaOut = new Float32Array(planes);
  const betaOut = new Float32Array(planes);
  if (!selfnorm) {
    for (let p = 0; p < planes; p++) {
      alphaIn[p] = a[p] as number;
      betaIn[p] = b[p] as number;
      alphaOut[p] = 1;
    }
    return { alphaIn, betaIn, alphaOut, betaOut, selfnormStats: null };
  }
  const { meanY, stdY } = crossNormOutputStats(sums, shape, cn);
  const { params, mode } = selfnorm;
  const [N, C] = shape;
  const gStats = gate(params.gWeight, params.gBn, mode, meanY, stdY, N, C);
  const fStats =
    params.fWeight && params.fBn ? gate(params.fWeight, params.fBn, mode, meanY, stdY, N, C) : null;
  for (let p = 0; p < planes; p++) {
    const g = gStats.gate[p] as number;
    const offset = fStats ? (meanY[p] as number) * ((fStats.gate[p] as number) - g) : 0;
    alphaIn[p] = (a[p] as number) * g;
    betaIn[p] = (b[p] as number) * g + offset;
    alphaOut[p] = g;
    betaOut[p] = offset;
  }
  const selfnormStats: SelfNormBatchStats | null =
    mode === 'train' ? { g: gStats.stats, ...(fStats ? { f: fStats.stats } : {}) } : null;
  return { alphaIn, betaIn, alphaOut, betaOut, selfnormStats };
}

/** CrossNorm as y = a * x + b on the content region of each plane, and where its sums start. */
interface CrossNormAffine {
  a: Float64Array;
  b: Float64Array;
  /** Pixels of the content region, and the offset of its sums in `sums` (0: the whole plane). */
  nIn: number;
  sIn: number;
}

/** CrossNorm's per-plane affine map from the content and style regions' sums. */
function crossNormAffine(sums: Float64Array, shape: Shape4, plan: CrossNormPlan): CrossNormAffine {
  const [N, C, H, W] = shape;
  const hw = H * W;
  const planes = N * C;
  const contentBox = plan.fires ? plan.contentBox : null;
  const styleBox = plan.fires ? plan.styleBox : null;
  const nIn = boxArea(contentBox, hw);
  const nStyle = boxArea(styleBox, hw);
  const sIn = contentBox ? 2 * planes : 0; // where the content-region sums start
  const sStyle = styleBox ? 4 * planes : 0;
  // lam null is lam 0 exactly: lam + (1 - lam) * A === A and (1 - lam) * B === B.
  const lam = plan.lam ?? 0;
  const a = new Float64Array(planes);
  const b = new Float64Array(planes);
  if (!plan.fires) {
    a.fill(1);
    return { a, b, nIn, sIn };
  }
  // Multiplications by inverses: this loop runs N*C times per batch, and divisions are slow.
  const invIn = 1 / nIn;
  const invIn1 = 1 / (nIn - 1);
  const invSt = 1 / nStyle;
  const invSt1 = 1 / (nStyle - 1);
  const chan = Int32Array.from(plan.chanIdxs ?? Array.from({ length: C }, (_, c) => c));
  for (let n = 0, p = 0; n < N; n++) {
    const styleBase = (plan.insIdxs[n] as number) * C;
    for (let c = 0; c < C; c++, p++) {
      const o = p + sIn;
      const os = styleBase + (chan[c] as number) + sStyle;
      const Sc = sums[o] as number;
      const Ss = sums[os] as number;
      const mc = Sc * invIn;
      const ms = Ss * invSt;
      const vc = ((sums[o + planes] as number) - Sc * mc) * invIn1;
      const vs = ((sums[os + planes] as number) - Ss * ms) * invSt1;
      const A = Math.sqrt((vs > 0 ? vs : 0) + CROSSNORM_EPS) / Math.sqrt((vc > 0 ? vc : 0) + CROSSNORM_EPS);
      a[p] = lam + (1 - lam) * A;
      b[p] = (1 - lam) * (ms - A * mc);
    }
  }
  return { a, b, nIn, sIn };
}

/** SelfNorm's instance statistics of y = CrossNorm(x), from the sums of x alone. */
function crossNormOutputStats(
  sums: Float64Array,
  shape: Shape4,
  { a, b, nIn, sIn }: CrossNormAffine,
): { meanY: Float64Array; stdY: Float64Array } {
  const hw = shape[2] * shape[3];
  const planes = shape[0] * shape[1];
  const meanY = new Float64Array(planes);
  const stdY = new Float64Array(planes);
  const invHw = 1 / hw;
  const invHw1 = 1 / (hw - 1);
  for (let p = 0; p < planes; p++) {
    const S = sums[p] as number;
    const Q = sums[p + planes] as number;
    const Si = sums[p + sIn] as number;
    const Qi = sums[p + sIn + planes] as number;
    const ap = a[p] as number;
    const bp = b[p] as number;
    const sumY = ap * Si + bp * nIn + (S - Si);
    const sumY2 = ap * ap * Qi + 2 * ap * bp * Si + bp * bp * nIn + (Q - Qi);
    const m = sumY * invHw;
    const v = (sumY2 - sumY * m) * invHw1;
    meanY[p] = m;
    stdY[p] = Math.sqrt((v > 0 ? v : 0) + SELFNORM_EPS);
  }
  return { meanY, stdY };
}

/** A gate's parameters as typed arrays, packed once per parameter object (the hot loop reads them per plane). */
interface PackedGate {
  w0: Float64Array;
  w1: Float64Array;
  scale: Float64Array;
  shift: Float64Array;
  weight: Float64Array;
  bias: Float64Array;
  eps: number;
}
const packed = new WeakMap<object, PackedGate>();

function pack(weight: Array<[number, number]>, bn: BatchNormParams): PackedGate {
  let p = packed.get(weight);
  if (p && packed.get(bn) === p) return p;
  const C = weight.length;
  p = {
    w0: Float64Array.from(weight, (w) => w[0]),
    w1: Float64Array.from(weight, (w) => w[1]),
    // Eval mode folds the running statistics into one scale and shift per channel.
    scale: Float64Array.from(
      { length: C },
      (_, c) => (bn.weight[c] as number) / Math.sqrt((bn.runningVar[c] as number) + bn.eps),
    ),
    shift: new Float64Array(C),
    weight: Float64Array.from(bn.weight),
    bias: Float64Array.from(bn.bias),
    eps: bn.eps,
  };
  for (let c = 0; c < C; c++)
    p.shift[c] = (bn.bias[c] as number) - (bn.runningMean[c] as number) * (p.scale[c] as number);
  packed.set(weight, p);
  packed.set(bn, p);
  return p;
}

/** One SelfNorm gate: z = w0 * mean + w1 * std, BatchNorm over the batch (or running stats), sigmoid. */
function gate(
  weight: Array<[number, number]>,
  bn: BatchNormParams,
  mode: 'train' | 'eval',
  meanY: Float64Array,
  stdY: Float64Array,
  N: number,
  C: number,
): { gate: Float64Array; stats: BatchNormBatchStats } {
  const pg = pack(weight, bn);
  const z = new Float64Array(N * C);
  for (let n = 0, p = 0; n < N; n++) {
    for (let c = 0; c < C; c++, p++)
      z[p] = (pg.w0[c] as number) * (meanY[p] as number) + (pg.w1[c] as number) * (stdY[p] as number);
  }
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  const unbiasedVar = new Float64Array(C);
  let scale = pg.scale;
  let shift = pg.shift;
  if (mode === 'train') {
    // Channel-wise reductions over n, walking memory in order.
    for (let n = 0, p = 0; n < N; n++)
      for (let c = 0; c < C; c++, p++) mean[c] = (mean[c] as number) + (z[p] as number);
    for (let c = 0; c < C; c++) mean[c] = (mean[c] as number) / N;
    for (let n = 0, p = 0; n < N; n++) {
      for (let c = 0; c < C; c++, p++)
        variance[c] = (variance[c] as number) + ((z[p] as number) - (mean[c] as number)) ** 2;
    }
    scale = new Float64Array(C);
    shift = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const v = variance[c] as number;
      variance[c] = v / N;
      unbiasedVar[c] = N > 1 ? v / (N - 1) : 0;
      scale[c] = (pg.weight[c] as number) / Math.sqrt((variance[c] as number) + pg.eps);
      shift[c] = (pg.bias[c] as number) - (mean[c] as number) * (scale[c] as number);
    }
  } else {
    mean.set(bn.runningMean);
    variance.set(bn.runningVar);
  }
  for (let n = 0, p = 0; n < N; n++) {
    for (let c = 0; c < C; c++, p++)
      z[p] = 1 / (1 + Math.exp(-((z[p] as number) * (scale[c] as number) + (shift[c] as number))));
  }
  return { gate: z, stats: { mean, var: variance, unbiasedVar } };
}
