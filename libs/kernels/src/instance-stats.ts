import { SELFNORM_EPS } from './coefficients.js';
import type { Shape4 } from './tensor.js';

/**
 * Per-(instance, channel) mean and std of an NCHW batch as the paper's `calc_ins_mean_std` computes
 * them for SelfNorm (std = sqrt(unbiased variance + eps), eps SELFNORM_EPS = 1e-12), in float64 with two passes (mean, then squared
 * deviations) so that large offsets cost no precision. `mean[n * C + c]`.
 */
export function instanceMeanStd(
  data: Float32Array,
  shape: Shape4,
  eps = SELFNORM_EPS,
): { mean: Float64Array; std: Float64Array } {
  const [n, c, h, w] = shape;
  const hw = h * w;
  const mean = new Float64Array(n * c);
  const std = new Float64Array(n * c);
  for (let p = 0; p < n * c; p++) {
    const from = p * hw;
    let sum = 0;
    for (let i = from; i < from + hw; i++) sum += data[i] as number;
    const m = sum / hw;
    let squares = 0;
    for (let i = from; i < from + hw; i++) {
      const d = (data[i] as number) - m;
      squares += d * d;
    }
    mean[p] = m;
    std[p] = Math.sqrt(squares / (hw - 1) + eps);
  }
  return { mean, std };
}
