import { meanStd } from './coefficients.js';
import { type FeatureBatch, validateBatch } from './tensor.js';

/**
 * Reference instance statistics in plain float64 loops (the reference's calc_ins_mean_std):
 * mean and sqrt(unbiased variance + eps) per (n, c). Used by tests and by drivers.
 */
export function instanceStats(batch: FeatureBatch, eps = 1e-5): { mean: Float64Array; std: Float64Array } {
  validateBatch(batch, { allowNonFinite: true });
  const [N, C, H, W] = batch.shape;
  const hw = H * W;
  const mean = new Float64Array(N * C);
  const std = new Float64Array(N * C);
  for (let p = 0; p < N * C; p++) {
    let s = 0;
    let q = 0;
    for (let i = p * hw; i < (p + 1) * hw; i++) {
      const v = batch.data[i] as number;
      s += v;
      q += v * v;
    }
    [mean[p], std[p]] = meanStd(s, q, hw, eps);
  }
  return { mean, std };
}
