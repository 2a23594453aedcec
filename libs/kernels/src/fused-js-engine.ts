import type { Box } from './box-sampler.js';
import { computeCoefficients, meanStd, type SelfNormBatchStats, SUMS_PER_PLANE } from './coefficients.js';
import { BORROW_HEADROOM, type FusedEngine } from './fused-engine.js';
import type { CrossNormPlan } from './plan.js';
import type { SelfNormConfig } from './selfnorm-params.js';
import type { FeatureBatch, Shape4 } from './tensor.js';

/** The fused passes over TypedArrays: the portable engine, and the fallback when WebAssembly is not built. */
export class FusedJsEngine implements FusedEngine {
  readonly name = 'js' as const;

  run(
    batch: FeatureBatch,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    out: Float32Array,
    onNonFinite: () => void,
  ): SelfNormBatchStats | null {
    const x = batch.data;
    const [N, C, H, W] = batch.shape;
    const planes = N * C;
    const hw = H * W;
    const contentBox = plan.contentBox;
    const sums = this.sums(batch, contentBox, plan.styleBox);
    if (!Number.isFinite(sums.subarray(0, 2 * planes).reduce((acc, v) => acc + v * 0, 0))) onNonFinite();
    const coef = computeCoefficients(sums, batch.shape, plan, selfnorm);
    // Box bounds hoisted: destructuring an array per plane is measurably slow.
    const [r0, c0, r1, c1] = contentBox ?? [0, 0, 0, 0];
    for (let p = 0; p < planes; p++) {
      const base = p * hw;
      const aIn = coef.alphaIn[p] as number;
      const bIn = coef.betaIn[p] as number;
      if (!contentBox) {
        for (let i = base, end = base + hw; i < end; i++) out[i] = Math.fround((x[i] as number) * aIn) + bIn;
        continue;
      }
      const aOut = coef.alphaOut[p] as number;
      const bOut = coef.betaOut[p] as number;
      for (let r = 0; r < H; r++) {
        const row = base + r * W;
        const inRows = r >= r0 && r < r1;
        const lo = inRows ? row + c0 : row + W;
        const hi = inRows ? row + c1 : row + W;
        for (let i = row; i < lo; i++) out[i] = Math.fround((x[i] as number) * aOut) + bOut;
        for (let i = lo; i < hi; i++) out[i] = Math.fround((x[i] as number) * aIn) + bIn;
        for (let i = hi, end = row + W; i < end; i++) out[i] = Math.fround((x[i] as number) * aOut) + bOut;
      }
    }
    return coef.selfnormStats;
  }

  stats(batch: FeatureBatch, eps: number): { mean: Float64Array; std: Float64Array } {
    const [N, C, H, W] = batch.shape;
    const planes = N * C;
    const sums = this.sums(batch, null, null);
    const mean = new Float64Array(planes);
    const std = new Float64Array(planes);
    for (let p = 0; p < planes; p++)
      [mean[p], std[p]] = meanStd(sums[p] as number, sums[p + planes] as number, H * W, eps);
    return { mean, std };
  }

  private borrowed: { key: string; data: Float32Array } | null = null;

  borrow(shape: Shape4): Float32Array {
    const key = shape.join(',');
    if (this.borrowed?.key !== key) {
      const count = shape[0] * shape[1] * shape[2] * shape[3];
      const data = new Float32Array(new ArrayBuffer(BORROW_HEADROOM + count * 4), BORROW_HEADROOM, count);
      this.borrowed = { key, data };
    }
    return this.borrowed.data;
  }

  /** Six arrays of P sums: whole map, content box, style box (sum and sum of squares each). */
  private sums(batch: FeatureBatch, contentBox: Box | null, styleBox: Box | null): Float64Array {
    const x = batch.data;
    const [N, C, H, W] = batch.shape;
    const planes = N * C;
    const hw = H * W;
    const sums = new Float64Array(planes * SUMS_PER_PLANE);
    for (let p = 0; p < planes; p++) {
      const base = p * hw;
      let s = 0;
      let q = 0;
      for (let i = base, end = base + hw; i < end; i++) {
        const v = x[i] as number;
        s += v;
        q += v * v;
      }
      sums[p] = s;
      sums[p + planes] = q;
      if (contentBox) boxSums(x, base, W, contentBox, sums, p + 2 * planes, planes);
      if (styleBox) boxSums(x, base, W, styleBox, sums, p + 4 * planes, planes);
    }
    return sums;
  }
}

function boxSums(
  x: Float32Array,
  base: number,
  W: number,
  box: Box,
  sums: Float64Array,
  at: number,
  stride: number,
): void {
  // Indexed, not destructured: this runs twice per plane.
  const r1 = box[2];
  const c0 = box[1];
  const c1 = box[3];
  let s = 0;
  let q = 0;
  for (let r = box[0]; r < r1; r++) {
    for (let i = base + r * W + c0, end = base + r * W + c1; i < end; i++) {
      const v = x[i] as number;
      s += v;
      q += v * v;
    }
  }
  sums[at] = s;
  sums[at + stride] = q;
}
