import { CROSSNORM_EPS, SELFNORM_EPS } from './coefficients.js';
import { COMBINE, STATS_PER_PLANE } from './webgpu-shaders.js';

/**
 * The coefficients of the fused chain on the GPU, between the statistics pass and the affine pass
 * of webgpu-shaders.ts, so that a batch is one submission with no read-back in between. The same
 * maths as computeCoefficients (coefficients.ts), in float32 on the (n, mean, M2) triples of the
 * statistics pass: a variance is M2 / (n - 1) with no sum of squares to cancel, and the regions are
 * combined by Chan's formula, never subtracted, so float32 keeps within the golden tolerance.
 *
 * Three entry points over one bind group:
 * - `crossnorm`, one thread per plane: CrossNorm's a and b from its content region and its style
 *   plane's style region; with SelfNorm, the output's mean (as pivot and offset) and std in
 *   closed form.
 * - `batchnorm`, one thread per channel: each gate's BatchNorm scale and shift, over the batch in
 *   train mode (its batch statistics kept for the driver's running averages) or the running ones,
 *   for the gate's z = w0 * mean + w1 * std taken relative to the channel's first plane.
 * - `coefficients`, one thread per plane: the sigmoid gates folded into (alphaIn, betaIn,
 *   alphaOut, betaOut), what the affine pass reads.
 */

/** Threads per workgroup of the per-plane and per-channel entry points. */
export const COEF_THREADS = 64;

/** Bits of `flags` in the uniform block. */
export const COEF_FLAGS = {
  fires: 1,
  content: 2,
  style: 4,
  selfnorm: 8,
  train: 16,
  fGate: 32,
} as const;

/** vec4s per channel in `chan`: (w0g, w1g, w0f, w1f), (weightG, biasG, weightF, biasF), eval's (scaleG, shiftG, scaleF, shiftF). */
export const CHAN_VEC4S = 3;
/** Floats per channel of BatchNorm batch statistics: mean, var, unbiased var of g, then of f. */
export const BN_STATS_PER_CHANNEL = 6;
/** Bytes of the uniform block. */
export const COEF_PARAMS_BYTES = 48;

export const COEF_SHADER = /* wgsl */ `
${COMBINE}
struct Params {
  n: u32, c: u32, hw: u32, flags: u32,
  lam: f32, epsG: f32, epsF: f32, rowGroups: u32,
}
@group(0) @binding(0) var<storage, read> stats: array<f32>;
@group(0) @binding(1) var<storage, read> plan: array<u32>;
@group(0) @binding(2) var<storage, read> chan: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> tmp: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> norm: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> bnStats: array<f32>;
@group(0) @binding(6) var<storage, read_write> coef: array<vec4<f32>>;
@group(0) @binding(7) var<uniform> prm: Params;

fn has(bit: u32) -> bool { return (prm.flags & bit) != 0u; }

fn region(p: u32, k: u32) -> vec3<f32> {
  let o = p * ${STATS_PER_PLANE}u + k * 3u;
  return vec3<f32>(stats[o], stats[o + 1u], stats[o + 2u]);
}

fn pivot(p: u32) -> f32 { return stats[p * ${STATS_PER_PLANE}u + 9u]; }

// The reference's unbiased variance, clamped at 0 (0 for one value, as its 0 * Inf clamps).
fn variance(r: vec3<f32>) -> f32 {
  if (r.x < 2.0) { return 0.0; }
  return max(r.z / (r.x - 1.0), 0.0);
}

fn sigmoid(z: f32) -> f32 { return 1.0 / (1.0 + exp(-z)); }

fn index(g: vec3<u32>) -> u32 { return g.x + g.y * prm.rowGroups * ${COEF_THREADS}u; }

// Means are relative to each plane's pivot K (the statistics pass): mean = K + mean'.
@compute @workgroup_size(${COEF_THREADS})
fn crossnorm(@builtin(global_invocation_id) g: vec3<u32>) {
  let p = index(g);
  if (p >= prm.n * prm.c) { return; }
  let rest = region(p, 0u);
  let whole = combine(rest, region(p, 1u));
  // The content region: the box, or the whole map without one (then "rest" is the whole map).
  let inside = select(whole, region(p, 1u), has(${COEF_FLAGS.content}u));
  let k = pivot(p);
  var a = 1.0;
  var b = 0.0;
  // The content region's mean after CrossNorm, relative to K: a * mc + b is lam mc + (1 - lam) ms.
  var mapped = inside.y;
  if (has(${COEF_FLAGS.fires}u)) {
    let q = plan[p / prm.c] * prm.c + plan[prm.n + p % prm.c];
    let style = select(combine(region(q, 0u), region(q, 1u)), region(q, 2u), has(${COEF_FLAGS.style}u));
    let ratio = sqrt(variance(style) + ${CROSSNORM_EPS}) / sqrt(variance(inside) + ${CROSSNORM_EPS});
    let kq = pivot(q);
    a = prm.lam + (1.0 - prm.lam) * ratio;
    b = (1.0 - prm.lam) * ((kq - ratio * k) + (style.y - ratio * inside.y));
    mapped = prm.lam * inside.y + (1.0 - prm.lam) * ((kq - k) + style.y);
  }
  tmp[2u * p] = vec4<f32>(a, b, 0.0, 0.0);
  if (!has(${COEF_FLAGS.selfnorm}u)) { return; }
  // CrossNorm's output: the content region mapped by a, b; the rest as it was.
  let y0 = vec3<f32>(inside.x, mapped, a * a * inside.z);
  let y = select(y0, combine(y0, rest), has(${COEF_FLAGS.content}u));
  let stdY = sqrt(variance(vec3<f32>(f32(prm.hw), y.y, y.z)) + ${SELFNORM_EPS});
  tmp[2u * p + 1u] = vec4<f32>(k, y.y, stdY, 0.0);
}

// A gate's z = w0 * mean + w1 * std of plane p, less that of plane r of the same channel: the
// pivots' difference is exact between planes of one scale, so a spread across the batch far below
// the planes' magnitude survives (BatchNorm divides by that spread).
fn dz(p: u32, r: u32, w0: f32, w1: f32) -> f32 {
  let t = tmp[2u * p + 1u];
  let o = tmp[2u * r + 1u];
  return w0 * ((t.x - o.x) + (t.y - o.y)) + w1 * (t.z - o.z);
}

// BatchNorm of one gate for channel c as (scale, shift) applied to dz from plane c (instance 0):
// over the batch in train mode, its batch statistics written at bnStats[at..at + 3]; else the
// running statistics folded into folded.
fn gateNorm(c: u32, w: vec2<f32>, weight: f32, bias: f32, eps: f32, folded: vec2<f32>, at: u32) -> vec2<f32> {
  let o = tmp[2u * c + 1u];
  let zc = w.x * (o.x + o.y) + w.y * o.z;
  if (!has(${COEF_FLAGS.train}u)) { return vec2<f32>(folded.x, folded.y + zc * folded.x); }
  var mean = 0.0;
  var m2 = 0.0;
  for (var n = 0u; n < prm.n; n++) {
    let z = dz(n * prm.c + c, c, w.x, w.y);
    let d = z - mean;
    mean += d / f32(n + 1u);
    m2 += d * (z - mean);
  }
  let v = m2 / f32(prm.n);
  bnStats[at] = zc + mean;
  bnStats[at + 1u] = v;
  bnStats[at + 2u] = select(0.0, m2 / f32(prm.n - 1u), prm.n > 1u);
  let scale = weight / sqrt(v + eps);
  return vec2<f32>(scale, bias - mean * scale);
}

@compute @workgroup_size(${COEF_THREADS})
fn batchnorm(@builtin(global_invocation_id) g: vec3<u32>) {
  let c = g.x;
  if (c >= prm.c || !has(${COEF_FLAGS.selfnorm}u)) { return; }
  let w = chan[${CHAN_VEC4S}u * c];
  let bn = chan[${CHAN_VEC4S}u * c + 1u];
  let folded = chan[${CHAN_VEC4S}u * c + 2u];
  let at = c * ${BN_STATS_PER_CHANNEL}u;
  let sg = gateNorm(c, w.xy, bn.x, bn.y, prm.epsG, folded.xy, at);
  var sf = vec2<f32>(0.0);
  if (has(${COEF_FLAGS.fGate}u)) { sf = gateNorm(c, w.zw, bn.z, bn.w, prm.epsF, folded.zw, at + 3u); }
  norm[c] = vec4<f32>(sg, sf);
}

@compute @workgroup_size(${COEF_THREADS})
fn coefficients(@builtin(global_invocation_id) g: vec3<u32>) {
  let p = index(g);
  if (p >= prm.n * prm.c) { return; }
  let t = tmp[2u * p];
  if (!has(${COEF_FLAGS.selfnorm}u)) {
    coef[p] = vec4<f32>(t.x, t.y, 1.0, 0.0);
    return;
  }
  let c = p % prm.c;
  let w = chan[${CHAN_VEC4S}u * c];
  let s = norm[c];
  let gate = sigmoid(dz(p, c, w.x, w.y) * s.x + s.y);
  var offset = 0.0;
  if (has(${COEF_FLAGS.fGate}u)) {
    let y = tmp[2u * p + 1u];
    offset = (y.x + y.y) * (sigmoid(dz(p, c, w.z, w.w) * s.z + s.w) - gate);
  }
  coef[p] = vec4<f32>(t.x * gate, t.y * gate + offset, gate, offset);
}
`;
