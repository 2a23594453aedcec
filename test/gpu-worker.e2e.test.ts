import { createBackend, defaultSelfNormParams, makePlan, type Shape4 } from '@cnsn/kernels';
import { narrowFloat32, type WireDtype, widenToFloat32 } from '@cnsn/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PipelineEnv,
  runApp,
  runCnsn,
  TESTED_PLANES,
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

/** x as a 16-bit wire carries it. */
function throughWire(x: Float32Array, wire: WireDtype): Float32Array {
  if (wire === 'float32') return x;
  return widenToFloat32(narrowFloat32(x, wire, new Uint16Array(x.length)), wire, new Float32Array(x.length));
}

// The worker's GPU path end to end: 2 slots by default, each batch received into its slot's
// staging and sent from its read-back, on every plane and wire (a 16-bit wire converted on the
// GPU), with SelfNorm in train mode.
describe.skipIf(unavailable && !required).each(TESTED_PLANES)('a webgpu worker on the %s plane', (plane) => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start({ plane });
    await env.startWorkers(1, { backend: 'webgpu' });
  });
  afterAll(() => env?.dispose());

  it.each(['float32', 'bfloat16', 'float16'] as const)(
    'wire %s: 2 slots by default, outputs and BatchNorm statistics within the golden tolerance of fused',
    async (wire) => {
      const shape: Shape4 = [6, 16, 9, 11];
      const selfnorm = { mode: 'train' as const, params: defaultSelfNormParams(16, { seed: 3 }) };
      const batches = Array.from({ length: 6 }, (_, i) => testBatch(shape, 80 + i));
      const run = await (await env.pipeline()).openRun({ seed: 5, selfnorm, wire, maxInFlight: 4 });
      const producing = (async () => {
        for (const b of batches) await run.enqueue(b.data, b.shape);
        await run.end();
      })();
      const got: Array<{ data: Float32Array; stats: unknown }> = [];
      for await (const r of run.results()) got.push({ data: r.data.slice(), stats: r.selfnormStats });
      await producing;
      await run.close();
      const { backend: fused } = await createBackend('fused');
      for (const [seq, b] of batches.entries()) {
        const want = await fused.augment(
          { data: throughWire(b.data, wire), shape },
          { plan: makePlan(shape, 5, seq, { crop: 'both', chan: true }), selfnorm },
        );
        const out = throughWire(want.data, wire);
        // A 16-bit wire: fused and the GPU may round a value near a tie apart, by one unit in
        // the last place at most (2^-7 of the value for bfloat16, 2^-10 for float16).
        const rtol = { float32: 1e-4, bfloat16: 2 ** -7, float16: 2 ** -10 }[wire];
        let worst = 0;
        for (let i = 0; i < out.length; i++) {
          const w = out[i] as number;
          worst = Math.max(worst, Math.abs(w - (got[seq]?.data[i] ?? NaN)) - rtol * Math.abs(w));
        }
        expect(worst, `batch ${seq}`).toBeLessThanOrEqual(1e-4);
        const mean = (got[seq]?.stats as { g: { mean: number[] } }).g.mean;
        want.selfnormStats?.g.mean.forEach((m, c) =>
          expect(Math.abs(m - (mean[c] ?? NaN))).toBeLessThan(1e-4),
        );
      }
      await fused.dispose();
      const status = await runCnsn(['status', '--redis', env.redis.url, '--prefix', env.prefix, '--json']);
      const w = (status.json as { workers: Array<{ backend: string; concurrency: number }> }).workers[0];
      expect(w).toMatchObject({ backend: 'webgpu', concurrency: 2 });
    },
  );
});
