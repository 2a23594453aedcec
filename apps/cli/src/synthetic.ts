import { type FeatureBatch, Rng, type Shape4 } from '@cnsn/kernels';

/**
 * A deterministic synthetic feature batch: per-(n, c) offset and scale around a standard normal,
 * so instance statistics differ as they do in real features. Same (seed, seq), same bytes.
 */
export function syntheticBatch(shape: Shape4, seed: number, seq: number): FeatureBatch {
  const [N, C, H, W] = shape;
  const rng = new Rng(seed, seq + 0x5e0000);
  const data = new Float32Array(N * C * H * W);
  const hw = H * W;
  for (let p = 0; p < N * C; p++) {
    const scale = 0.2 + 2.8 * rng.float();
    const shift = 4 * rng.float() - 2;
    for (let i = p * hw; i < (p + 1) * hw; i++) data[i] = rng.normal() * scale + shift;
  }
  return { data, shape };
}
