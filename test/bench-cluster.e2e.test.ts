import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { netnsUnavailable } from '@cnsn/infra';
import { describe, expect, it } from 'vitest';
import { runCnsn } from './support/index.js';

const unavailable = netnsUnavailable();
if (unavailable && process.env.CNSN_REQUIRE_NETNS === '1')
  throw new Error(`CNSN_REQUIRE_NETNS=1 but ${unavailable}`);

interface Row {
  plane: string;
  wire: string;
  drivers: number;
  workerHosts: number;
  gbPerSec: number;
  driverLinkBytesPerBatch: number;
  redisLinkBytesPerBatch: number;
}

describe.skipIf(unavailable !== null)('cnsn bench cluster', () => {
  it('prints a row per configuration, with bytes from the links that tell the planes apart', async () => {
    const plot = join(await mkdtemp(join(tmpdir(), 'bench-cluster-')), 'rows.png');
    const out = await runCnsn(
      ['bench', 'cluster', '--batches', '4', '--shape', '8,64,14,14', '--json', '--plot', plot],
      {
        timeoutMs: 300_000,
      },
    );
    expect(out.code, out.stderr).toBe(0);
    const { linkGbit, rows } = out.json as { linkGbit: number; rows: Row[] };
    expect(linkGbit).toBe(1);
    expect(rows.map((r) => `${r.plane} ${r.wire} ${r.drivers}x${r.workerHosts}`)).toEqual([
      'direct float32 1x1',
      'direct float32 1x2',
      'direct float32 1x4',
      'redis float32 1x2',
      'redis float32 1x4',
      'direct bfloat16 1x2',
      'direct float32 2x4',
    ]);
    const bytes = 8 * 64 * 14 * 14 * 4;
    for (const r of rows) {
      expect(r.gbPerSec).toBeGreaterThan(0);
      const wireBytes = r.wire === 'float32' ? bytes : bytes / 2;
      // The driver's link carries each batch out and its result back, on either plane.
      expect(r.driverLinkBytesPerBatch).toBeGreaterThan(2 * wireBytes);
      expect(r.driverLinkBytesPerBatch).toBeLessThan(2.2 * wireBytes);
      // Redis: jobs only on the direct plane (4 batches: the run's own set-up weighs in, so not
      // the bench's 16 kB goal here), the tensors four times on the redis plane.
      if (r.plane === 'direct') expect(r.redisLinkBytesPerBatch).toBeLessThan(wireBytes / 4);
      else expect(r.redisLinkBytesPerBatch).toBeGreaterThan(4 * wireBytes);
    }
    expect(out.stderr).toMatch(/(met|NOT met) +direct vs redis plane/);
    expect((await readFile(plot)).subarray(1, 4).toString()).toBe('PNG');
  }, 320_000);
});
