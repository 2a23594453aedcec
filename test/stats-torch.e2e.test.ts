import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Shape4 } from '@cnsn/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineEnv, REPO_ROOT, TESTED_PLANES, testBatch } from './support/index.js';

// Debian's interpreter sees Debian's torch (docs/python.md); CI requires it (CNSN_REQUIRE_TORCH=1).
const PYTHON = process.env.CNSN_PYTHON ?? '/usr/bin/python3';
const hasTorch =
  existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
const skip = !hasTorch && process.env.CNSN_REQUIRE_TORCH !== '1';
if (skip)
  console.warn(
    `stats-torch: skipped: ${PYTHON} cannot import torch and numpy (apt-get install python3-torch)`,
  );

const SHAPES: Shape4[] = [
  [4, 8, 7, 7],
  [2, 16, 14, 9],
  [3, 5, 5, 6],
];

describe.skipIf(skip).each(TESTED_PLANES)(
  "returned statistics against the PyTorch reference's instance statistics, on the %s plane",
  (plane) => {
    let env: PipelineEnv;
    let dir: string;
    beforeAll(async () => {
      env = await PipelineEnv.start({ plane });
      dir = await mkdtemp(join(tmpdir(), 'cnsn-stats-'));
    });
    afterAll(async () => {
      await env.dispose();
      await rm(dir, { recursive: true, force: true });
    });

    it('mean and std per (instance, channel) of the CrossNorm output agree with PyTorch', async () => {
      await env.startWorkers(1);
      const pipeline = await env.pipeline();
      const run = await pipeline.openRun({
        seed: 4,
        crossnorm: { crop: 'both', chan: true, lam: 0.3 },
        selfnorm: null,
        returnStats: true,
      });
      const feeding = (async () => {
        for (const [i, shape] of SHAPES.entries()) {
          // Offsets far from 0 as well: the statistics must not lose precision to them.
          const b = testBatch(shape, 60 + i);
          if (i === 1) for (let j = 0; j < b.data.length; j++) b.data[j] = (b.data[j] as number) + 1000;
          await run.enqueue(b.data, b.shape);
        }
        await run.end();
      })();
      let k = 0;
      for await (const b of run.results()) {
        expect(b.stats).toBeDefined();
        await writeFile(
          join(dir, `batch-${k}.f32`),
          new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength),
        );
        for (const s of ['mean', 'std'] as const) {
          const v = b.stats?.[s] as Float64Array;
          await writeFile(
            join(dir, `batch-${k}.${s}.f64`),
            new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
          );
        }
        k++;
      }
      await feeding;
      await run.close();
      await writeFile(join(dir, 'shapes.json'), JSON.stringify(SHAPES));
      const check = spawnSync(
        PYTHON,
        [join(REPO_ROOT, 'test/support/torch_stats_check.py'), join(REPO_ROOT, 'tools/reference'), dir],
        {
          encoding: 'utf8',
        },
      );
      expect(check.status, check.stderr).toBe(0);
      const worst = JSON.parse(check.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
      expect(worst.batches).toBe(3);
      // Float64 both sides: only the summation order differs.
      expect(worst.f64Rel).toBeLessThan(1e-9);
      // Against the reference's float32 computation (the paper's operations): within its float32 rounding.
      expect(worst.f32Rel).toBeLessThan(1e-4);
    });
  },
);
