import { createHash } from 'node:crypto';
import {
  FusedBackend,
  makePlan,
  type CrossNormOptions,
  type SelfNormConfig,
  type Shape4,
} from '@cnsn/kernels';

/** The digest a run must produce, computed in this process with the same plans (docs/cli.md's digest). */
export async function expectedDigest(
  batches: Array<{ data: Float32Array; shape: Shape4 }>,
  seed: number,
  crossnorm: Partial<CrossNormOptions>,
  selfnorm: SelfNormConfig | null,
  /** The run's stream: batch k gets the plan at position start + k of (seed, rank, epoch). */
  stream: { rank?: number; epoch?: number; start?: number } = {},
): Promise<string> {
  const backend = new FusedBackend();
  const hash = createHash('sha256');
  const { rank = 0, epoch = 0, start = 0 } = stream;
  for (const [seq, b] of batches.entries()) {
    const plan = makePlan(b.shape, seed, start + seq, crossnorm, { rank, epoch });
    const { data } = await backend.augment(b, { plan, selfnorm });
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return `sha256:${hash.digest('hex')}`;
}

export function digestOf(outputs: Float32Array[]): string {
  const hash = createHash('sha256');
  for (const d of outputs) hash.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return `sha256:${hash.digest('hex')}`;
}
