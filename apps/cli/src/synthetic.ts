import type { FeatureBatch, Shape4 } from '@cnsn/kernels';

/** sqrt(3): the sum of four uniforms minus 2 has variance 1/3. */
const SQRT3 = 1.7320508075688772;

/**
 * A deterministic synthetic feature batch: per-(n, c) offset and scale around a unit-variance bell
 * (the sum of four uniforms of a mulberry32 stream), so instance statistics differ as in real
 * features. Only +, -, * and / on exact values: every language's IEEE doubles give the same bytes
 * (the Python client's cnsn.synthetic matches it bit for bit, which log/cos/sin from two maths
 * libraries did not: they differ in the last bit about once in 50 million values).
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
    for (let i = p * hw; i < (p + 1) * hw; i++) {
      const sum = uniform() + uniform() + uniform() + uniform();
      data[i] = (sum - 2) * SQRT3 * scale + shift;
    }
  }
  return { data, shape };
}
