import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, WEBGPU_REQUIRED, webgpuUnavailable } from './support/index.js';

// The GPU check a person runs on an NVIDIA node (tools/gpu-check.sh), here on lavapipe: in the
// checkout, and as the offline bundle on a PATH with no node and no redis-server.
const unavailable = await webgpuUnavailable();
const required = WEBGPU_REQUIRED;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = REPO_ROOT): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function summaryOf(ran: Ran): Record<string, unknown> {
  expect(ran.code, ran.stderr.slice(-2000)).toBe(0);
  const last = ran.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as Record<string, unknown>;
}

function expectPassed(s: Record<string, unknown>): void {
  expect(s.passed).toBe(true);
  expect(s.golden).toMatchObject({ cases: 75, failed: 0 });
  const bench = s.bench as Array<{ shape: number[]; gpuMs: number; fusedMs: number }>;
  expect(bench.map((b) => b.shape)).toEqual([[8, 64, 7, 7]]);
  expect(bench[0]?.gpuMs).toBeGreaterThan(0);
  expect(bench[0]?.fusedMs).toBeGreaterThan(0);
  expect(s.e2e).toMatchObject({ batches: 4, delivered: 4 });
  expect((s.e2e as { workers: string[] }).workers[0]).toMatch(/^webgpu \(WGSL on /);
  expect((s.adapters as unknown[]).length).toBeGreaterThan(0);
}

const small = ['--shape', '8,64,7,7', '--iters', '2', '--batches', '4'];

describe.skipIf(unavailable && !required)('the GPU check', () => {
  let dir: string;
  beforeAll(async () => {
    expect(unavailable, 'CNSN_REQUIRE_WEBGPU is set but webgpu is unavailable').toBeNull();
    dir = await mkdtemp(join(tmpdir(), 'cnsn-gpu-check-test-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('passes in the checkout on a CPU adapter, and fails --require-gpu there by name', async () => {
    expectPassed(summaryOf(await sh('bash', ['tools/gpu-check.sh', ...small], process.env)));
    const strict = await sh('bash', ['tools/gpu-check.sh', ...small, '--require-gpu'], process.env);
    const lavapipe = strict.stderr.includes('CPU adapter');
    expect(strict.code).toBe(lavapipe ? 1 : 0);
    if (lavapipe) expect(strict.stderr).toMatch(/--require-gpu: webgpu runs on a CPU adapter/);
  });

  it('runs from its bundle with no node and no redis-server on PATH', async () => {
    const out = join(dir, 'gpu-check');
    const packed = await sh('bash', ['tools/gpu-check-pack.sh', out], process.env);
    expect(packed.code, packed.stderr).toBe(0);
    // A PATH with a shell and the tools the script calls, and nothing else.
    const bin = join(dir, 'bin');
    await mkdir(bin);
    for (const tool of ['bash', 'timeout', 'dirname', 'ls', 'cat'])
      await symlink(`/usr/bin/${tool}`, join(bin, tool));
    const env: NodeJS.ProcessEnv = { PATH: bin, HOME: dir };
    if (process.env.VK_DRIVER_FILES) env.VK_DRIVER_FILES = process.env.VK_DRIVER_FILES;
    expectPassed(summaryOf(await sh(join(bin, 'bash'), [join(out, 'gpu-check.sh'), ...small], env, dir)));
  });
});
