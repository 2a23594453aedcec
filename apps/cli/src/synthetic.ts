import type { FeatureBatch, Shape4 } from '@cnsn/kernels';

/**
 * A deterministic synthetic feature batch: per-(n, c) offset and scale around a standard normal
 * (Box-Muller over a mulberry32 stream), so instance statistics differ as in real features.
 * Same (shape, seed, seq), same bytes; fast enough to make 60 large batches in about a second.
 */
export function syntheticBatch(shape: Shape4, seed: number, seq: number): FeatureBatch {
  const [N, C, H, W] = shape;
  let state = (Math.imul(seed ^ 0x5eed, 0x9e3779b1) ^ Math.imul(seq + 1, 0x85ebca6b)) >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const data = new Float32Array(N * C * H * W);
  const hw = H * W;
  for (let p = 0; p < N * C; p++) {
    const scale = 0.2 + 2.8 * uniform();
    const shift = 4 * uniform() - 2;
    for (let i = p * hw; i < (p + 1) * hw; i += 2) {
      const r = Math.sqrt(-2 * Math.log(uniform()));
      const a = 2 * Math.PI * uniform();
      data[i] = r * Math.cos(a) * scale + shift;
      if (i + 1 < (p + 1) * hw) data[i + 1] = r * Math.sin(a) * scale + shift;
    }
  }
  return { data, shape };
}
