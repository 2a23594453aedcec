import type { CrossNormPlan } from './plan.js';
import type { BatchNormParams, SelfNormConfig } from './selfnorm-params.js';
import { CHAN_VEC4S, COEF_FLAGS, COEF_PARAMS_BYTES, COEF_THREADS } from './webgpu-coef-shader.js';
import { MAX_GROUPS_PER_DIM } from './webgpu-shaders.js';

/** What the coefficient passes read besides the statistics, packed for the GPU (webgpu-coef-shader.ts). */
export interface CoefInputs {
  /** The uniform block. */
  params: ArrayBuffer;
  /** insIdxs (N) then chanIdxs (C). */
  plan: Uint32Array<ArrayBuffer>;
  /** CHAN_VEC4S vec4s per channel; empty (one zero vec4) without SelfNorm. */
  chan: Float32Array<ArrayBuffer>;
}

/** Workgroups (x, y) of the per-plane entry points for `planes` planes; x is the shader's rowGroups. */
export function planeGroups(planes: number): [number, number] {
  const groups = Math.ceil(planes / COEF_THREADS);
  const x = Math.min(groups, MAX_GROUPS_PER_DIM);
  return [x, Math.ceil(groups / x)];
}

/** Packs a batch's plan and SelfNorm parameters for the coefficient passes. */
export function coefInputs(
  N: number,
  C: number,
  hw: number,
  plan: CrossNormPlan,
  selfnorm: SelfNormConfig | null,
): CoefInputs {
  const params = new ArrayBuffer(COEF_PARAMS_BYTES);
  const u32 = new Uint32Array(params);
  const f32 = new Float32Array(params);
  const fGate = selfnorm?.params.fBn ?? null;
  let flags = 0;
  if (plan.fires) flags |= COEF_FLAGS.fires;
  if (plan.fires && plan.contentBox) flags |= COEF_FLAGS.content;
  if (plan.fires && plan.styleBox) flags |= COEF_FLAGS.style;
  if (selfnorm) flags |= COEF_FLAGS.selfnorm;
  if (selfnorm?.mode === 'train') flags |= COEF_FLAGS.train;
  if (fGate) flags |= COEF_FLAGS.fGate;
  u32.set([N, C, hw, flags]);
  f32[4] = plan.lam ?? 0;
  f32[5] = selfnorm?.params.gBn.eps ?? 0;
  f32[6] = fGate?.eps ?? 0;
  u32[7] = planeGroups(N * C)[0];
  const planIdxs = new Uint32Array(N + C);
  planIdxs.set(plan.insIdxs);
  for (let c = 0; c < C; c++) planIdxs[N + c] = plan.chanIdxs?.[c] ?? c;
  return {
    params,
    plan: planIdxs,
    chan: selfnorm ? channelParams(selfnorm, C) : new Float32Array(4),
  };
}

/** Per channel: the gates' weights, their BatchNorms' affine, and eval mode's folded scale and shift. */
function channelParams({ params }: SelfNormConfig, C: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(C * CHAN_VEC4S * 4);
  const g = folded(params.gBn);
  const f = params.fBn ? folded(params.fBn) : null;
  for (let c = 0; c < C; c++) {
    const o = c * CHAN_VEC4S * 4;
    const gw = params.gWeight[c] as [number, number];
    const fw = params.fWeight?.[c] ?? [0, 0];
    out.set([gw[0], gw[1], fw[0], fw[1]], o);
    const fBn = params.fBn;
    out.set(
      [params.gBn.weight[c] ?? 0, params.gBn.bias[c] ?? 0, fBn?.weight[c] ?? 0, fBn?.bias[c] ?? 0],
      o + 4,
    );
    out.set([g.scale[c] ?? 0, g.shift[c] ?? 0, f?.scale[c] ?? 0, f?.shift[c] ?? 0], o + 8);
  }
  return out;
}

/** Eval mode's BatchNorm as one scale and shift per channel, in float64 before the float32 upload. */
function folded(bn: BatchNormParams): { scale: Float64Array; shift: Float64Array } {
  const C = bn.weight.length;
  const scale = new Float64Array(C);
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const s = (bn.weight[c] as number) / Math.sqrt((bn.runningVar[c] as number) + bn.eps);
    scale[c] = s;
    shift[c] = (bn.bias[c] as number) - (bn.runningMean[c] as number) * s;
  }
  return { scale, shift };
}
