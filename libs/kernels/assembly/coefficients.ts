// WebAssembly SIMD version of libs/kernels/src/coefficients.ts: sums -> the affine coefficients of the
// fused chain, for every (n, c) plane at once. Same algebra and eps; f64x2 lanes run over channels.
// Layout (byte offsets chosen by the host): sums are six f64 arrays of P = N*C (S, Q, Sc, Qc, Ss, Qs).

const CROSSNORM_EPS: f64 = 1e-5;
const SELFNORM_EPS: f64 = 1e-12;

/** Parameters of one SelfNorm gate: six f64 arrays of C (w0, w1, weight, bias, runningMean, runningVar), then eps. */
@inline function gateParam(base: usize, C: i32, k: i32): usize {
  return base + <usize>(k * C) * 8;
}

/**
 * Computes coef (4 f32 per plane: alphaIn, betaIn, alphaOut, betaOut).
 * scratch: 5 f64 arrays of P (a, b, meanY, zg, zf). stats (train mode): gMean, gVar, fMean, fVar, f64 arrays of C.
 * sn: 0 none, 1 train, 2 eval. two: 1 for the two-gate variant.
 * Phase 1 runs plane by plane (everything a plane needs is computed while its sums are in cache);
 * phase 2 needs the BatchNorm statistics over the whole batch first.
 */
export function coefficients(
  N: i32, C: i32, hw: i32,
  sums: usize, hasContent: i32, hasStyle: i32, nIn: f64, nStyle: f64,
  fires: i32, lam: f64, ins: usize, chan: usize,
  sn: i32, two: i32, gParams: usize, fParams: usize,
  coef: usize, stats: usize, scratch: usize,
): void {
  const P = N * C;
  const arr = <usize>P * 8;
  const S = sums, Q = sums + arr;
  const SC = hasContent ? sums + 2 * arr : S;
  const QC = hasContent ? sums + 3 * arr : Q;
  const SS = hasStyle ? sums + 4 * arr : S;
  const QS = hasStyle ? sums + 5 * arr : Q;
  const a = scratch, b = scratch + arr, meanY = scratch + 2 * arr;
  const zg = scratch + 3 * arr, zf = scratch + 4 * arr;
  const gw0 = gateParam(gParams, C, 0), gw1 = gateParam(gParams, C, 1);
  const fw0 = gateParam(fParams, C, 0), fw1 = gateParam(fParams, C, 1);

  const cb = <usize>C << 3;
  gInvIn = 1.0 / nIn; gInvIn1 = 1.0 / (nIn - 1);
  gInvSt = 1.0 / nStyle; gInvSt1 = 1.0 / (nStyle - 1);
  gInvHw = 1.0 / <f64>hw; gInvHw1 = 1.0 / <f64>(hw - 1);
  gNIn = nIn; gLam = lam;
  rS = S; rQ = Q; rSC = SC; rQC = QC; rSS = SS; rQS = QS;
  rA = a; rB = b; rMeanY = meanY; rZg = zg; rZf = zf;
  rGw0 = gw0; rGw1 = gw1; rFw0 = fw0; rFw1 = fw1;
  // Specialised by constant flags: after inlining, the per-plane loop has no branches.
  if (!fires && sn == 0) phase1(N, C, ins, chan, false, false, false);
  else if (sn == 0) phase1(N, C, ins, chan, true, false, false);
  else if (!fires && !two) phase1(N, C, ins, chan, false, true, false);
  else if (!fires) phase1(N, C, ins, chan, false, true, true);
  else if (!two) phase1(N, C, ins, chan, true, true, false);
  else phase1(N, C, ins, chan, true, true, true);

  if (sn == 0) {
    for (let p = 0; p < P; p++) {
      const o = coef + (<usize>p << 4);
      store<f32>(o, <f32>load<f64>(a + (<usize>p << 3)));
      store<f32>(o, <f32>load<f64>(b + (<usize>p << 3)), 4);
      store<f32>(o, 1.0, 8);
      store<f32>(o, 0.0, 12);
    }
    return;
  }

  gate(N, C, zg, gParams, sn == 1, stats, stats + cb);
  if (two) gate(N, C, zf, fParams, sn == 1, stats + 2 * cb, stats + 3 * cb);
  for (let p = 0; p < P; p++) {
    const off = <usize>p << 3;
    const gp = load<f64>(zg + off);
    const offset = two ? load<f64>(meanY + off) * (load<f64>(zf + off) - gp) : 0.0;
    const o = coef + (<usize>p << 4);
    store<f32>(o, <f32>(load<f64>(a + off) * gp));
    store<f32>(o, <f32>(load<f64>(b + off) * gp + offset), 4);
    store<f32>(o, <f32>gp, 8);
    store<f32>(o, <f32>offset, 12);
  }
}

// Per-call constants and array offsets of phase 1, as module globals: the module allocates nothing
// (its memory above 64 KiB belongs to the host), so no objects.
let gInvIn: f64 = 0, gInvIn1: f64 = 0, gInvSt: f64 = 0, gInvSt1: f64 = 0, gInvHw: f64 = 0, gInvHw1: f64 = 0;
let gNIn: f64 = 0, gLam: f64 = 0;
let rS: usize = 0, rQ: usize = 0, rSC: usize = 0, rQC: usize = 0, rSS: usize = 0, rQS: usize = 0;
let rA: usize = 0, rB: usize = 0, rMeanY: usize = 0, rZg: usize = 0, rZf: usize = 0;
let rGw0: usize = 0, rGw1: usize = 0, rFw0: usize = 0, rFw1: usize = 0;

/**
 * Phase 1, plane by plane with two channels per f64x2: CrossNorm's (a, b) from the content sums
 * and the style plane's sums, SelfNorm's mean and std of y from the sums alone, and the gates' z.
 */
@inline function phase1(N: i32, C: i32, ins: usize, chan: usize, fires: bool, sn: bool, two: bool): void {
  const cb = <usize>C << 3;
  const eps = f64x2.splat(CROSSNORM_EPS);
  const zero = f64x2.splat(0);
  const vlam = f64x2.splat(gLam), v1lam = f64x2.splat(1.0 - gLam);
  const invIn = f64x2.splat(gInvIn), invIn1 = f64x2.splat(gInvIn1);
  const invSt = f64x2.splat(gInvSt), invSt1 = f64x2.splat(gInvSt1);
  const invHw = f64x2.splat(gInvHw), invHw1 = f64x2.splat(gInvHw1);
  const vnIn = f64x2.splat(gNIn), two2 = f64x2.splat(2.0), sneps = f64x2.splat(SELFNORM_EPS);
  const C2 = C & ~1;
  for (let n = 0; n < N; n++) {
    const row = <usize>n * cb;
    const styleRow = fires ? <usize>load<i32>(ins + (<usize>n << 2)) * cb : 0;
    for (let c = 0; c < C2; c += 2) {
      const off = row + (<usize>c << 3);
      const Si = v128.load(rSC + off);
      const Qi = v128.load(rQC + off);
      let ap = f64x2.splat(1.0);
      let bp = zero;
      if (fires) {
        const q0 = styleRow + (<usize>load<i32>(chan + (<usize>c << 2)) << 3);
        const q1 = styleRow + (<usize>load<i32>(chan + (<usize>c << 2), 4) << 3);
        const Ss = f64x2.replace_lane(f64x2.splat(load<f64>(rSS + q0)), 1, load<f64>(rSS + q1));
        const Qs = f64x2.replace_lane(f64x2.splat(load<f64>(rQS + q0)), 1, load<f64>(rQS + q1));
        const mc = f64x2.mul(Si, invIn);
        const ms = f64x2.mul(Ss, invSt);
        const vc = f64x2.max(zero, f64x2.mul(f64x2.sub(Qi, f64x2.mul(Si, mc)), invIn1));
        const vs = f64x2.max(zero, f64x2.mul(f64x2.sub(Qs, f64x2.mul(Ss, ms)), invSt1));
        // ss / sc with one square root: sqrt((vs + eps) / (vc + eps)).
        const A = f64x2.sqrt(f64x2.div(f64x2.add(vs, eps), f64x2.add(vc, eps)));
        ap = f64x2.add(vlam, f64x2.mul(v1lam, A));
        bp = f64x2.mul(v1lam, f64x2.sub(ms, f64x2.mul(A, mc)));
      }
      v128.store(rA + off, ap);
      v128.store(rB + off, bp);
      if (sn) {
        const sumY = f64x2.add(f64x2.add(f64x2.mul(ap, Si), f64x2.mul(bp, vnIn)), f64x2.sub(v128.load(rS + off), Si));
        const sumY2 = f64x2.add(
          f64x2.add(f64x2.mul(f64x2.mul(ap, ap), Qi), f64x2.mul(f64x2.mul(two2, f64x2.mul(ap, bp)), Si)),
          f64x2.add(f64x2.mul(f64x2.mul(bp, bp), vnIn), f64x2.sub(v128.load(rQ + off), Qi)),
        );
        const m = f64x2.mul(sumY, invHw);
        const v = f64x2.max(zero, f64x2.mul(f64x2.sub(sumY2, f64x2.mul(sumY, m)), invHw1));
        const sd = f64x2.sqrt(f64x2.add(v, sneps));
        v128.store(rMeanY + off, m);
        const co = <usize>c << 3;
        v128.store(rZg + off, f64x2.add(f64x2.mul(v128.load(rGw0 + co), m), f64x2.mul(v128.load(rGw1 + co), sd)));
        if (two) v128.store(rZf + off, f64x2.add(f64x2.mul(v128.load(rFw0 + co), m), f64x2.mul(v128.load(rFw1 + co), sd)));
      }
    }
    if (C2 < C) plane1(row, styleRow, C - 1, chan, fires, sn, two);
  }
}

/** Phase 1 for one plane (the odd last channel). */
function plane1(row: usize, styleRow: usize, c: i32, chan: usize, fires: bool, sn: bool, two: bool): void {
  const off = row + (<usize>c << 3);
  const Si = load<f64>(rSC + off);
  const Qi = load<f64>(rQC + off);
  let ap: f64 = 1.0;
  let bp: f64 = 0.0;
  if (fires) {
    const q = styleRow + (<usize>load<i32>(chan + (<usize>c << 2)) << 3);
    const Ss = load<f64>(rSS + q);
    const mc = Si * gInvIn;
    const ms = Ss * gInvSt;
    const vc = (Qi - Si * mc) * gInvIn1;
    const vs = (load<f64>(rQS + q) - Ss * ms) * gInvSt1;
    const A = Math.sqrt(((vs > 0 ? vs : 0) + CROSSNORM_EPS) / ((vc > 0 ? vc : 0) + CROSSNORM_EPS));
    ap = gLam + (1.0 - gLam) * A;
    bp = (1.0 - gLam) * (ms - A * mc);
  }
  store<f64>(rA + off, ap);
  store<f64>(rB + off, bp);
  if (!sn) return;
  const sumY = ap * Si + bp * gNIn + (load<f64>(rS + off) - Si);
  const sumY2 = ap * ap * Qi + 2.0 * ap * bp * Si + bp * bp * gNIn + (load<f64>(rQ + off) - Qi);
  const m = sumY * gInvHw;
  const v = (sumY2 - sumY * m) * gInvHw1;
  const sd = Math.sqrt((v > 0 ? v : 0) + SELFNORM_EPS);
  store<f64>(rMeanY + off, m);
  const co = <usize>c << 3;
  store<f64>(rZg + off, load<f64>(rGw0 + co) * m + load<f64>(rGw1 + co) * sd);
  if (two) store<f64>(rZf + off, load<f64>(rFw0 + co) * m + load<f64>(rFw1 + co) * sd);
}

/** One gate for all planes, in place over z: BatchNorm (batch or running statistics), then sigmoid. */
function gate(N: i32, C: i32, z: usize, params: usize, train: bool, mean: usize, variance: usize): void {
  const weight = gateParam(params, C, 2), bias = gateParam(params, C, 3);
  const rMean = gateParam(params, C, 4), rVar = gateParam(params, C, 5);
  const eps = load<f64>(gateParam(params, C, 6));
  const cb = <usize>C << 3;
  if (train) {
    memory.fill(mean, 0, cb);
    memory.fill(variance, 0, cb);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const off = <usize>c << 3;
        store<f64>(mean + off, load<f64>(mean + off) + load<f64>(z + <usize>n * cb + off));
      }
    }
    for (let c = 0; c < C; c++) store<f64>(mean + (<usize>c << 3), load<f64>(mean + (<usize>c << 3)) / <f64>N);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const off = <usize>c << 3;
        const d = load<f64>(z + <usize>n * cb + off) - load<f64>(mean + off);
        store<f64>(variance + off, load<f64>(variance + off) + d * d);
      }
    }
    for (let c = 0; c < C; c++) store<f64>(variance + (<usize>c << 3), load<f64>(variance + (<usize>c << 3)) / <f64>N);
  } else {
    memory.copy(mean, rMean, cb);
    memory.copy(variance, rVar, cb);
  }
  for (let n = 0; n < N; n++) {
    const row = <usize>n * cb;
    let c = 0;
    for (; c + 2 <= C; c += 2) {
      const off = <usize>c << 3;
      const scale = f64x2.div(v128.load(weight + off), f64x2.sqrt(f64x2.add(v128.load(variance + off), f64x2.splat(eps))));
      const shift = f64x2.sub(v128.load(bias + off), f64x2.mul(v128.load(mean + off), scale));
      v128.store(z + row + off, sigmoid2(f64x2.add(f64x2.mul(v128.load(z + row + off), scale), shift)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 3;
      const scale = load<f64>(weight + off) / Math.sqrt(load<f64>(variance + off) + eps);
      const zn = load<f64>(z + row + off) * scale + (load<f64>(bias + off) - load<f64>(mean + off) * scale);
      store<f64>(z + row + off, 1.0 / (1.0 + Math.exp(-zn)));
    }
  }
}

/** 1 / (1 + exp(-x)) on two lanes: exp by range reduction to |r| <= ln2/2 and a degree-11 Taylor polynomial. */
@inline function sigmoid2(x: v128): v128 {
  const t = f64x2.min(f64x2.splat(700.0), f64x2.max(f64x2.splat(-700.0), f64x2.neg(x)));
  const k = f64x2.nearest(f64x2.mul(t, f64x2.splat(1.4426950408889634)));
  const r = f64x2.sub(f64x2.sub(t, f64x2.mul(k, f64x2.splat(0.6931471803691238))), f64x2.mul(k, f64x2.splat(1.9082149292705877e-10)));
  let poly = f64x2.splat(1.0 / 39916800.0);
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 3628800.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 362880.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 40320.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 5040.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 720.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 120.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 24.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0 / 6.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(0.5));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0));
  poly = f64x2.add(f64x2.mul(poly, r), f64x2.splat(1.0));
  // 2^k: k into the exponent bits (k is within [-1010, 1010] after the clamp).
  const ki = i64x2.extend_low_i32x4_s(i32x4.trunc_sat_f64x2_s_zero(k));
  const scale = i64x2.shl(i64x2.add(ki, i64x2.splat(1023)), 52);
  const e = f64x2.mul(poly, scale);
  return f64x2.div(f64x2.splat(1.0), f64x2.add(f64x2.splat(1.0), e));
}
