import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePlan } from '@cnsn/kernels';
import { afterAll, describe, expect, it } from 'vitest';
import { GOLDEN_DIR, runCnsn } from './support/index.js';

const tmp = await mkdtemp(join(tmpdir(), 'cnsn-cli-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

describe('cnsn golden-check', () => {
  it.each(['fused', 'tfjs-cpu', 'tfjs-wasm'])('passes all 75 cases on %s', async (backend) => {
    const r = await runCnsn(['golden-check', GOLDEN_DIR, '--backend', backend]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ cases: 75, failed: 0, backend });
    expect((r.json as { maxAbsErr: number }).maxAbsErr).toBeLessThan(1e-4);
  });

  it('names a failing case and exits non-zero', async () => {
    const dir = join(tmp, 'golden');
    await cp(GOLDEN_DIR, dir, { recursive: true });
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    const victim = manifest.cases.find((c: { op: string }) => c.op === 'crossnorm');
    const file = join(dir, victim.expected);
    const bytes = await readFile(file);
    bytes.writeFloatLE(bytes.readFloatLE(40) + 0.5, 40); // element 10 off by 0.5
    await writeFile(file, bytes);
    const r = await runCnsn(['golden-check', dir]);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ cases: 75, failed: 1 });
    expect(r.stderr).toContain(`FAIL ${victim.name}: output[10]`);
  });

  it('says what is wrong with a bad directory', async () => {
    const r = await runCnsn(['golden-check', join(tmp, 'nothing-here')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read .*nothing-here\/manifest.json/);
  });
});

describe('cnsn plan', () => {
  it('prints one JSON line per batch, the plans a worker computes', async () => {
    const r = await runCnsn([
      'plan',
      '--shape',
      '8,16,7,5',
      '--seed',
      '9',
      '--batches',
      '3',
      '--first-seq',
      '4',
      '--crop',
      'content',
      '--no-chan',
      '--lam',
      '0.3',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    lines.forEach((line, i) => {
      expect(line).toEqual({
        seq: 4 + i,
        ...makePlan([8, 16, 7, 5], 9, 4 + i, { crop: 'content', chan: false, lam: 0.3 }),
      });
      expect(Object.keys(line)).toEqual([
        'seq',
        'fires',
        'crop',
        'insIdxs',
        'chanIdxs',
        'styleBox',
        'contentBox',
        'lam',
      ]);
    });
  });

  it('streams: each (rank, epoch) its own, the same on every call; --start K continues a listing from 0', async () => {
    const plan = async (...more: string[]): Promise<string[]> => {
      const r = await runCnsn(['plan', '--shape', '8,64,14,14', '--seed', '3', '--batches', '5', ...more]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim().split('\n');
    };
    const [historical, r1e2, again, r0e1, r1e0, r1e2From3] = await Promise.all([
      plan(),
      plan('--rank', '1', '--epoch', '2'),
      plan('--rank', '1', '--epoch', '2'),
      plan('--epoch', '1'),
      plan('--rank', '1'),
      plan('--rank', '1', '--epoch', '2', '--start', '3', '--batches', '2'),
    ]);
    expect(again).toEqual(r1e2);
    // Rank 0, epoch 0 is the historical stream (what makePlan gives without a stream).
    expect(historical[0]).toBe(JSON.stringify({ seq: 0, ...makePlan([8, 64, 14, 14], 3, 0) }));
    for (const other of [historical, r0e1, r1e0])
      for (let i = 0; i < 5; i++) expect(r1e2[i]).not.toBe(other[i]);
    for (let i = 0; i < 5; i++) expect(r0e1[i]).not.toBe(r1e0[i]);
    // Byte for byte lines 4 and 5 of the listing from 0 (`seq` is the position in the stream).
    expect(r1e2From3).toEqual(r1e2.slice(3, 5));
  });

  it('refuses bad options with the flag and value', async () => {
    const r = await runCnsn(['plan', '--shape', '8,16,7', '--seed', '1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('expected N,C,H,W');
    const beta = await runCnsn(['plan', '--shape', '8,16,7,7', '--beta', '0']);
    expect(beta.code).toBe(2);
    expect(beta.stderr).toContain('beta: must be a finite number > 0, got 0');
  });
});

describe('cnsn bench kernel', () => {
  it('prints the JSON line of docs/cli.md', async () => {
    const r = await runCnsn(['bench', 'kernel', '--shape', '8,32,7,7', '--iters', '5', '--warmup', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ backend: 'fused', shape: [8, 32, 7, 7] });
    const { msPerBatch, gbPerSec } = r.json as { msPerBatch: number; gbPerSec: number };
    expect(msPerBatch).toBeGreaterThan(0);
    expect(gbPerSec).toBeCloseTo((8 * 32 * 49 * 4) / msPerBatch / 1e6, 1);
  });
});
