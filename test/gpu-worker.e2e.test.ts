import { createBackend, makePlan, type Shape4 } from '@cnsn/kernels';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PipelineEnv,
  runApp,
  runCnsn,
  testBatch,
  WEBGPU_REQUIRED,
  webgpuUnavailable,
} from './support/index.js';

const unavailable = await webgpuUnavailable();
const required = WEBGPU_REQUIRED;

describe.skipIf(unavailable && !required)('a worker on webgpu', () => {
  let env: PipelineEnv;
  beforeAll(async () => {
    expect(unavailable, 'CNSN_REQUIRE_WEBGPU is set but webgpu is unavailable').toBeNull();
    env = await PipelineEnv.start();
  });
  afterAll(() => env?.dispose());

  it('augments batches within the golden tolerance of fused, and shows its adapter in status', async () => {
    const [worker] = await env.startWorkers(1, { backend: 'webgpu' });
    const shape: Shape4 = [4, 8, 7, 7];
    const batches = Array.from({ length: 4 }, (_, i) => testBatch(shape, 60 + i));
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ seed: 2 });
    const producing = (async () => {
      for (const b of batches) await run.enqueue(b.data, b.shape);
      await run.end();
    })();
    const got: Float32Array[] = [];
    for await (const r of run.results()) {
      expect(r.backend).toBe('webgpu');
      got.push(r.data.slice());
    }
    await producing;
    await run.close();
    const { backend: fused } = await createBackend('fused');
    for (const [seq, b] of batches.entries()) {
      const want = await fused.augment(b, {
        plan: makePlan(shape, 2, seq, { crop: 'both', chan: true }),
        selfnorm: null,
      });
      const worst = want.data.reduce(
        (m, w, i) => Math.max(m, Math.abs(w - (got[seq]?.[i] ?? NaN)) - 1e-4 * Math.abs(w)),
        0,
      );
      expect(worst).toBeLessThanOrEqual(1e-4);
    }
    const status = await runCnsn([
      'status',
      '--redis',
      env.redis.url,
      '--prefix',
      env.prefix,
      '--queue',
      env.queue,
      '--json',
    ]);
    const w = (status.json as { workers: Array<{ backend: string; adapter: string }> }).workers[0];
    expect(w?.backend).toBe('webgpu');
    expect(w?.adapter).toMatch(/^(GPU|CPU adapter) \S+/);
    await worker?.stop();
  });

  it('--backend auto takes it only on a hardware GPU, and says why it passed an adapter over', async () => {
    const r = await runApp(
      'apps/worker/src/main.ts',
      ['--redis', env.redis.url, '--backend', 'auto', '--id', 'auto-probe'],
      {
        timeoutMs: 8000,
      },
    );
    const line = r.stderr.split('\n').find((l) => l.includes('"msg":"backend '));
    expect(line).toBeDefined();
    if (/CPU adapter/.test(line ?? ''))
      expect(line).toMatch(
        /backend fused: auto: fused, because webgpu: passed over CPU adapter .*a CPU Vulkan driver is slower than fused/,
      );
    else expect(line).toMatch(/backend webgpu: auto: webgpu on GPU /);
  });
});

describe.runIf(unavailable && !required)('webgpu here', () => {
  it.skip(`is unavailable: ${unavailable}`, () => undefined);
});
