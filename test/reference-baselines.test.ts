import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCnsn } from './support/index.js';

// The speed baselines time the repository's PyTorch reference (tools/reference), which
// tools/reference/test_cnsn_reference.py holds to the golden cases. These tests run them through the
// bench commands, as a user does, on small batches: what is checked is the wiring and the figures'
// presence, never a speed. Debian's interpreter sees Debian's torch; CI requires it.
const PYTHON = process.env.CNSN_PYTHON ?? '/usr/bin/python3';
const hasTorch =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
const skip = !hasTorch && process.env.CNSN_REQUIRE_TORCH !== '1';
if (skip)
  console.warn(
    `reference-baselines: skipped: ${PYTHON} cannot import torch and numpy (apt-get install python3-torch)`,
  );
const REFERENCE = join(REPO_ROOT, 'tools/reference');

describe.skipIf(skip)("the baselines run the repository's PyTorch reference", () => {
  it('bench kernel --baseline-torch times tools/reference/bench_torch.py', async () => {
    const help = await runCnsn(['bench', 'kernel', '--help']);
    expect(help.stdout.replace(/\s+/g, '')).toContain(`(default${join(REFERENCE, 'bench_torch.py')})`);
    const r = await runCnsn(
      ['bench', 'kernel', '--shape', '8,32,7,7', '--iters', '3', '--warmup', '1', '--baseline-torch'],
      { timeoutMs: 180_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/baseline: torch\S+ threads=2 device=cpu crop=both 8x32x7x7: [\d.]+ ms\/batch/);
    const j = r.json as { torchMsPerBatch: number; speedupVsTorch: number };
    expect(j.torchMsPerBatch).toBeGreaterThan(0);
    expect(Number.isFinite(j.speedupVsTorch) && j.speedupVsTorch > 0).toBe(true);
  });

  it('bench pipeline --baseline-dataloader runs tools/reference/bench_dataloader.py', async () => {
    const r = await runCnsn(
      [
        'bench',
        'pipeline',
        '--shape',
        '16,64,14,14',
        '--batches',
        '6',
        '--data-plane',
        'direct',
        '--no-limit',
        '--no-progress',
        '--baseline-dataloader',
      ],
      { timeoutMs: 240_000 },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/baseline: torch DataLoader workers=2 6x16x64x14x14: [\d.]+ ms\/batch/);
    const j = r.json as { dataloaderGbPerSec: number; speedupVsDataloader: number };
    expect(j.dataloaderGbPerSec).toBeGreaterThan(0);
    expect(Number.isFinite(j.speedupVsDataloader)).toBe(true);
  }, 300_000);
});
