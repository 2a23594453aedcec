import { Rng, type FeatureBatch, type Shape4 } from '../src/index.js';

/** A batch whose (n, c) planes have their own offset and scale, like the golden inputs. */
export function randomBatch(shape: Shape4, seed: number): FeatureBatch {
  const [N, C, H, W] = shape;
  const rng = new Rng(seed, 0xba7c);
  const data = new Float32Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) {
    const scale = 0.2 + 2.8 * rng.float();
    const shift = 4 * rng.float() - 2;
    for (let i = p * H * W; i < (p + 1) * H * W; i++) data[i] = rng.normal() * scale + shift;
  }
  return { data, shape };
}
