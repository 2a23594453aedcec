import { Rng, type Shape4 } from '@cnsn/kernels';

/** A deterministic batch with per-plane offsets and scales. */
export function testBatch(shape: Shape4, seed: number): { data: Float32Array; shape: Shape4 } {
  const [N, C, H, W] = shape;
  const rng = new Rng(seed, 0x7e57);
  const data = new Float32Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) {
    const scale = 0.3 + 2 * rng.float();
    const shift = 3 * rng.float() - 1.5;
    for (let i = p * H * W; i < (p + 1) * H * W; i++) data[i] = rng.normal() * scale + shift;
  }
  return { data, shape };
}
