import { createHash, type Hash } from 'node:crypto';

/**
 * SHA-256 of the delivered outputs' raw little-endian float32 bytes, concatenated in order. The
 * time spent hashing is kept apart, so that the run's timing leaves it out (docs/cli.md: not timed).
 */
export class OutputDigest {
  private readonly hash: Hash = createHash('sha256');
  ms = 0;

  update(data: Float32Array): void {
    const t0 = performance.now();
    this.hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.ms += performance.now() - t0;
  }

  hex(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
