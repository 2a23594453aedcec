import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSelfNormParams, instanceMeanStd, type Shape4 } from '@cnsn/kernels';
import { formatNpy, parseNpy } from '@cnsn/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, expectedDigest, PipelineEnv, runCnsn, testBatch, which } from './support/index.js';

const tmp = await mkdtemp(join(tmpdir(), 'cnsn-run-'));
afterAll(() => rm(tmp, { recursive: true, force: true }));

const shapes: Shape4[] = [
  [4, 8, 7, 7],
  [2, 8, 7, 7],
  [6, 8, 7, 7],
];
const batches = shapes.map((s, i) => testBatch(s, 40 + i));
const files = batches.map((_, i) => join(tmp, `feat-${i}.npy`));

beforeAll(async () => {
  await Promise.all(batches.map((b, i) => writeFile(files[i] as string, formatNpy(b.shape, b.data))));
});

describe('cnsn run', () => {
  it('.npy in, .npy out: same names, in order, each the in-process augmentation, digest in the JSON', async () => {
    const out = join(tmp, 'out');
    const r = await runCnsn([
      'run',
      '--input',
      ...files,
      '--out',
      out,
      '--seed',
      '7',
      '--json',
      '--no-progress',
      '--backend',
      'fused',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const selfnorm = { mode: 'train' as const, params: defaultSelfNormParams(8, { seed: 7 }) };
    const want = await expectedDigest(batches, 7, { crop: 'both', chan: true }, selfnorm);
    expect(r.json).toMatchObject({ batches: 3, delivered: 3, failed: 0, digest: want });
    expect((await readdir(out)).sort()).toEqual(['feat-0.npy', 'feat-1.npy', 'feat-2.npy']);
    const written = await Promise.all(
      files.map(async (_, i) => parseNpy(await readFile(join(out, `feat-${i}.npy`)), `feat-${i}`)),
    );
    expect(written.map((w) => w.shape)).toEqual(shapes);
    expect(digestOf(written.map((w) => w.data))).toBe(want);
  });

  it('--rank, --epoch, --start choose the plan stream; --return-stats writes NAME.stats.npy (mean, std of the CrossNorm output)', async () => {
    const out = join(tmp, 'out-stream');
    const r = await runCnsn([
      'run',
      '--input',
      ...files,
      '--out',
      out,
      '--seed',
      '7',
      '--rank',
      '1',
      '--epoch',
      '2',
      '--start',
      '5',
      '--selfnorm',
      'off',
      '--return-stats',
      '--json',
      '--no-progress',
      '--backend',
      'fused',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const stream = { rank: 1, epoch: 2, start: 5 };
    const want = await expectedDigest(batches, 7, { crop: 'both', chan: true }, null, stream);
    expect((r.json as { digest: string }).digest).toBe(want);
    expect((await readdir(out)).sort()).toEqual([
      'feat-0.npy',
      'feat-0.stats.npy',
      'feat-1.npy',
      'feat-1.stats.npy',
      'feat-2.npy',
      'feat-2.stats.npy',
    ]);
    for (const [i, shape] of shapes.entries()) {
      const output = parseNpy(await readFile(join(out, `feat-${i}.npy`)), 'out');
      const stats = await readFile(join(out, `feat-${i}.stats.npy`));
      const header = stats.subarray(10, 10 + stats.readUInt16LE(8)).toString('latin1');
      expect(header).toContain(`'descr': '<f8'`);
      expect(header).toContain(`'shape': (2, ${shape[0]}, ${shape[1]})`);
      const values = new Float64Array(
        stats.buffer.slice(stats.byteOffset + 10 + stats.readUInt16LE(8), stats.byteOffset + stats.length),
      );
      const { mean, std } = instanceMeanStd(output.data, shape);
      expect(Array.from(values)).toEqual([...mean, ...std]);
    }
  });

  it('--selfnorm-params: the model parameters from a JSON file (golden manifest form); a bad file names the field', async () => {
    const params = defaultSelfNormParams(8, { seed: 99, two: true });
    const file = join(tmp, 'selfnorm.json');
    await writeFile(file, JSON.stringify(params));
    const r = await runCnsn([
      'run',
      '--input',
      ...files,
      '--selfnorm',
      'eval',
      '--selfnorm-params',
      file,
      '--crop',
      'style',
      '--json',
      '--no-progress',
      '--backend',
      'fused',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect((r.json as { digest: string }).digest).toBe(
      await expectedDigest(batches, 0, { crop: 'style', chan: true }, { mode: 'eval', params }),
    );
    const bad = join(tmp, 'bad-selfnorm.json');
    await writeFile(
      bad,
      JSON.stringify({ ...params, gBn: { ...params.gBn, runningVar: params.gBn.runningVar.slice(0, 5) } }),
    );
    const refused = await runCnsn([
      'run',
      '--input',
      ...files,
      '--selfnorm',
      'eval',
      '--selfnorm-params',
      bad,
      '--json',
      '--no-progress',
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `--selfnorm-params ${bad}: selfnorm.params.gBn.runningVar: expected 8 numbers (one per channel)`,
    );
  });

  it('synthetic batches: the same digest with 1 and 2 local workers', async () => {
    const args = [
      'run',
      '--synthetic',
      '--batches',
      '6',
      '--shape',
      '4,8,7,7',
      '--seed',
      '3',
      '--json',
      '--no-progress',
      '--backend',
      'fused',
    ];
    const [one, two] = [
      await runCnsn([...args, '--workers-local', '1']),
      await runCnsn([...args, '--workers-local', '2']),
    ];
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    expect((one.json as { digest: string }).digest).toBe((two.json as { digest: string }).digest);
    // docs/cli.md's fields first, in its order; the lists of skipped and passed-through batches follow.
    expect(Object.keys(one.json as object).slice(0, 7)).toEqual([
      'run',
      'batches',
      'delivered',
      'failed',
      'seconds',
      'gbPerSec',
      'digest',
    ]);
    expect(one.json).toMatchObject({ skipped: [], passthrough: [] });
  });

  it('names the batch and the file when an input is not float32 NCHW', async () => {
    const bad = join(tmp, 'bad.npy');
    const good = formatNpy([2, 8, 7, 7], new Float32Array(2 * 8 * 49));
    await writeFile(bad, Buffer.concat([good.subarray(0, good.length - 100)]));
    const r = await runCnsn(['run', '--input', files[0] as string, bad, '--json', '--no-progress']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`batch 1: ${bad}: truncated data`);
  });

  it('says what is missing without batches', async () => {
    const r = await runCnsn(['run', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'no batches: give --synthetic --batches K --shape N,C,H,W, or --input FILE.npy',
    );
  });
});

describe('npm start (cnsn start)', () => {
  it('runs the main job on embedded defaults with its own Redis, even when REDIS_URL points elsewhere', async () => {
    const r = await runCnsn(['start', '--json'], { env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ batches: 60, delivered: 60, failed: 0 });
    expect((r.json as { digest: string }).digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(r.stderr).toContain('60 batches, 2 local workers');
  });
});

describe('cnsn bench pipeline', () => {
  const bench = (plane: string) =>
    runCnsn([
      'bench',
      'pipeline',
      '--batches',
      '24',
      '--shape',
      '4,8,7,7',
      '--data-plane',
      plane,
      '--redis-iters',
      '3',
      '--no-progress',
      '--backend',
      'fused',
    ]);

  it('reports on either plane the figures of docs/cli.md, Redis bytes and CPU per batch, and the transport limit', async () => {
    const [direct, redis] = [await bench('direct'), await bench('redis')];
    for (const r of [direct, redis]) {
      expect(r.code, r.stderr).toBe(0);
      const j = r.json as Record<string, unknown>;
      expect(j).toMatchObject({ batches: 24, shape: [4, 8, 7, 7], wire: 'float32' });
      for (const k of ['gbPerSec', 'msPerBatch', 'redisBytesPerBatch', 'driverCpuMsPerBatch'])
        expect(j[k], k).toBeGreaterThan(0);
      expect(j.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
    const d = direct.json as Record<string, number | string>;
    const r = redis.json as Record<string, number | string>;
    expect([d.dataPlane, r.dataPlane]).toEqual(['direct', 'redis']);
    // The same bytes on either plane; on the direct plane Redis carries only the jobs.
    expect(d.digest).toBe(r.digest);
    expect(d.redisBytesPerBatch).toBeLessThan(16 * 1024);
    expect(r.redisBytesPerBatch).toBeGreaterThan(4 * 4 * 8 * 7 * 7 * 4);
    // The transport's own limit, by an independent tool, where it is installed.
    if (which('iperf3')) expect(d).toMatchObject({ transportLimitTool: 'iperf3' });
    if (which('redis-benchmark')) expect(r).toMatchObject({ transportLimitTool: 'redis-benchmark' });
    expect(r.ioredisGetMs).toBeGreaterThan(0);
  });
});

describe('cnsn status', () => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start();
  });
  afterAll(() => env.dispose());

  it('shows live workers with their backends, the queue and the runs', async () => {
    await env.startWorkers(1);
    const pipeline = await env.pipeline();
    const run = await pipeline.openRun({ runId: 'status-run', seed: 1 });
    const b = testBatch([2, 4, 5, 5], 1);
    await run.enqueue(b.data, b.shape);
    const args = ['status', '--redis', env.redis.url, '--prefix', env.prefix, '--queue', env.queue];
    const j = await runCnsn([...args, '--json']);
    expect(j.code, j.stderr).toBe(0);
    const status = j.json as {
      workers: Array<{ backend: string; backendDetail: string }>;
      runs: Array<{ run: string; dataPlane: string; counters: { enqueued: number; bytesIn: number } }>;
      queue: string;
    };
    expect(status.queue).toBe(env.queue);
    expect(status.workers).toHaveLength(1);
    expect(status.workers[0]?.backendDetail).toContain('fused (wasm-simd)');
    expect(status.runs.map((r) => r.run)).toEqual(['status-run']);
    expect(status.runs[0]?.counters.enqueued).toBe(1);
    // The run's plane (auto: the worker is on this host) and its bytes.
    expect(status.runs[0]).toMatchObject({ dataPlane: 'direct', counters: { bytesIn: 2 * 4 * 5 * 5 * 4 } });
    const human = await runCnsn(args);
    expect(human.stdout).toMatch(/workers \(1\):\n {2}w\S+ .* fused \(wasm-simd\)/);
    expect(human.stdout).toMatch(
      /status-run {2}open {2}plane direct \(http:\/\/127\.0\.0\.1:\d+\) {2}enqueued 1 /,
    );
    expect(human.stdout).toMatch(/tensors in 0\.0 MiB, out 0\.0 MiB/);
    for await (const _ of run.results()) break;
    await run.close();
  });
});
