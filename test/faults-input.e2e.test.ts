import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSelfNormParams, type Shape4 } from '@cnsn/kernels';
import { type DeliveredBatch, type PipelineRun } from '@cnsn/pipeline';
import { formatNpy, Keyspace, parseNpy } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestOf,
  expectedDigest,
  PipelineEnv,
  REPO_ROOT,
  runCnsn,
  TESTED_PLANES,
  testBatch,
  waitUntil,
} from './support/index.js';

const tmp = await mkdtemp(join(tmpdir(), 'cnsn-faults-'));
const SHAPE: Shape4 = [4, 8, 7, 7];
const crossnorm = { crop: 'both', chan: true } as const;

let env: PipelineEnv;
beforeAll(async () => {
  env = await PipelineEnv.start({ appendonly: true });
});
afterAll(async () => {
  await env.dispose();
  await rm(tmp, { recursive: true, force: true });
});

async function writeInputs(
  dir: string,
  batches: Array<{ data: Float32Array; shape: readonly number[] }>,
): Promise<string[]> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const files = batches.map((_, i) => join(dir, `in-${String(i).padStart(2, '0')}.npy`));
  await Promise.all(batches.map((b, i) => writeFile(files[i] as string, formatNpy(b.shape, b.data))));
  return files;
}

describe.each(TESTED_PLANES)('bad input from the command line, on the %s plane', (plane) => {
  const good = [testBatch(SHAPE, 1), testBatch(SHAPE, 2), testBatch(SHAPE, 3)];
  const nan = testBatch(SHAPE, 4);
  nan.data[37] = Number.NaN;
  let files: string[];
  beforeAll(async () => {
    await env.startWorkers(1);
    const dir = join(tmp, 'bad-inputs');
    files = await writeInputs(dir, [good[0] as never, nan, good[1] as never, good[2] as never]);
    // Batch 2 becomes a float64 file (written by NumPy), batch 3 a file with a corrupt header.
    await writeFile(
      files[2] as string,
      await readFile(join(REPO_ROOT, 'libs/protocol/test/fixtures/numpy-f64.npy')),
    );
    const corrupt = Buffer.from(formatNpy(SHAPE, (good[2] as { data: Float32Array }).data));
    corrupt.write('@@@@', 20, 'latin1');
    await writeFile(files[3] as string, corrupt);
  });
  const cli = (policy: string, out?: string, only?: number[]) =>
    runCnsn([
      'run',
      '--input',
      ...(only ? only.map((i) => files[i] as string) : files),
      '--redis',
      env.redis.url,
      '--prefix',
      env.prefix,
      '--queue',
      env.queue,
      '--on-error',
      policy,
      '--data-plane',
      plane,
      '--selfnorm',
      'off',
      '--json',
      '--no-progress',
      ...(out ? ['--out', out] : []),
    ]);

  it('--on-error fail stops with a non-zero exit naming the batch and the fault', async () => {
    const r = await cli('fail', undefined, [0, 1, 2]);
    expect(r.code).toBe(1);
    // Whichever is met first: the NaN batch at the worker, or the float64 file at the driver.
    expect(r.stderr).toMatch(
      /batch 1 failed: input\.data: value NaN at \[0, 0, 5, 2\] \(NCHW\) is not finite|batch 2: .*in-02\.npy: dtype <f8 is not float32/,
    );
    const nanOnly = await cli('fail', undefined, [0, 1]);
    expect(nanOnly.code).toBe(1);
    expect(nanOnly.stderr).toMatch(
      /batch 1 \(\S*in-01\.npy\) failed: input\.data: value NaN at \[0, 0, 5, 2\] \(NCHW\) is not finite/,
    );
    // One line, no stack (the stack only with --verbose).
    expect(nanOnly.stderr).not.toMatch(/^\s+at /m);
  });

  it('--on-error skip delivers every other batch in order and lists the skipped ones', async () => {
    const out = join(tmp, 'skip-out');
    const r = await cli('skip', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ batches: 4, delivered: 1, failed: 3 });
    // Every skipped batch is named with its file, the one a worker refused (NaN) included.
    expect(r.stderr).toMatch(/skipped batch 1 \(\S*in-01\.npy\): input\.data: value NaN/);
    expect(r.stderr).toContain(
      `skipped batches: batch 1 (${files[1]}), batch 2 (${files[2]}), batch 3 (${files[3]})`,
    );
    const skipped = (r.json as { skipped: Array<{ seq: number; file: string; reason: string }> }).skipped;
    expect(skipped.map((x) => [x.seq, x.file])).toEqual([
      [1, files[1]],
      [2, files[2]],
      [3, files[3]],
    ]);
    expect(skipped[0]?.reason).toMatch(/value NaN/);
    expect(r.stderr).toContain(`dtype <f8 is not float32`);
    expect(r.stderr).toContain('corrupt .npy header');
    expect(await readdir(out)).toEqual(['in-00.npy']);
    expect((r.json as { digest: string }).digest).toBe(
      await expectedDigest([good[0] as never], 0, crossnorm, null),
    );
  });

  it('--on-error passthrough delivers the bad batch unaugmented and flagged; unreadable files are skipped', async () => {
    const out = join(tmp, 'pass-out');
    const r = await cli('passthrough', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /batch 1 \(\S*in-01\.npy\) delivered unaugmented \(passthrough\): input\.data: value NaN/,
    );
    expect((r.json as { passthrough: Array<{ seq: number; file: string }> }).passthrough).toMatchObject([
      { seq: 1, file: files[1] },
    ]);
    expect((await readdir(out)).sort()).toEqual(['in-00.npy', 'in-01.npy']);
    const passed = parseNpy(await readFile(join(out, 'in-01.npy')), 'in-01');
    expect(Array.from(passed.data.subarray(0, 36))).toEqual(Array.from(nan.data.subarray(0, 36)));
    expect(Number.isNaN(passed.data[37])).toBe(true);
  });

  it('the worker never died of it', async () => {
    expect(env.workers[0]?.child.exitCode).toBeNull();
  });
});

/** A run (onError skip) whose batches all wait in Redis: no worker runs until the test starts one. */
async function enqueueWithoutWorkers(seeds: number[]): Promise<PipelineRun> {
  await env.stopWorkers();
  const pipeline = await env.pipeline();
  // Blobs in Redis are what these tests damage: the redis plane.
  const run = await pipeline.openRun({ seed: 1, crossnorm, onError: 'skip', dataPlane: 'redis' });
  for (const seed of seeds) {
    const b = testBatch(SHAPE, seed);
    await run.enqueue(b.data, b.shape);
  }
  await run.end();
  return run;
}

describe('bad blobs in Redis', () => {
  it('a corrupt or truncated input blob fails its batch with the reason; the others go through', async () => {
    const run = await enqueueWithoutWorkers([10, 11, 12, 13]);
    const keys = new Keyspace(env.prefix);
    const redis = new Redis(env.redis.url);
    const blob = await redis.getBuffer(keys.input(run.id, 1));
    await redis.set(keys.input(run.id, 1), blob?.subarray(0, (blob?.length ?? 0) - 100) ?? '');
    // Batch 2: a valid blob whose shape does not match its data any more.
    const other = await redis.getBuffer(keys.input(run.id, 2));
    const patched = Buffer.from(other ?? '');
    patched[patched.indexOf(Buffer.from([0x94, 0x04, 0x08, 0x07, 0x07])) + 4] = 0x06;
    await redis.set(keys.input(run.id, 2), patched);
    redis.disconnect();
    await env.startWorkers(1);
    const out: DeliveredBatch[] = [];
    for await (const r of run.results()) out.push({ ...r, data: r.data.slice() });
    await run.close();
    expect(out.map((b) => b.seq)).toEqual([0, 3]);
    expect(run.skipped.map((s) => s.seq)).toEqual([1, 2]);
    expect(run.skipped[0]?.reason).toMatch(/corrupt tensor blob/);
    expect(run.skipped[1]?.reason).toContain(
      'shape [4, 8, 7, 6] needs 5376 bytes of float32, the blob holds 6272',
    );
    expect(env.workers[0]?.child.exitCode).toBeNull();
  });
});

describe('hostile job data', () => {
  it('fails the job at once, with the reason, and the worker goes on', async () => {
    await env.stopWorkers();
    await env.startWorkers(1);
    const pipeline = await env.pipeline();
    const job = await pipeline.queue.add(
      'batch',
      { run: 'r', seq: 0, shape: [1, 1, 1, 2], bytes: 9, plane: 'redis', code: 'require("child_process")' },
      { attempts: 5 },
    );
    for (let i = 0; i < 200 && !(await job.isFailed()); i++) await new Promise((r) => setTimeout(r, 50));
    const failed = await pipeline.queue.getJob(job.id as string);
    expect(failed?.failedReason).toMatch(/bad job data: value: Unrecognized key: "code"/);
    expect(failed?.attemptsMade).toBe(1);
    expect(env.workers[0]?.child.exitCode).toBeNull();
  });
});

describe('a missing input blob', () => {
  it('is put back by the driver, which still holds the batch, and the batch is delivered', async () => {
    const run = await enqueueWithoutWorkers([20, 21, 22]);
    const redis = new Redis(env.redis.url);
    await redis.del(new Keyspace(env.prefix).input(run.id, 1));
    redis.disconnect();
    await env.startWorkers(1);
    const out: Float32Array[] = [];
    for await (const r of run.results()) out.push(r.data.slice());
    await run.close();
    expect(run.skipped).toEqual([]);
    const batches = [20, 21, 22].map((seed) => testBatch(SHAPE, seed));
    expect(digestOf(out)).toBe(await expectedDigest(batches, 1, crossnorm, null));
  });

  it('with no driver to put it back, its batch fails alone after the waits (about 15 s)', async () => {
    const run = await enqueueWithoutWorkers([23, 24, 25]);
    await run.close(); // the driver goes: nobody holds the batches any more
    const keys = new Keyspace(env.prefix);
    const redis = new Redis(env.redis.url);
    await redis.del(keys.input(run.id, 1));
    await env.startWorkers(1);
    for (let i = 0; i < 600 && !(await redis.exists(keys.failure(run.id, 1))); i++)
      await new Promise((r) => setTimeout(r, 50));
    redis.disconnect();
    // A driver that resumes the run finds batch 1 failed, and skips it (onError skip).
    const resumed = await (await env.pipeline()).openRun({ runId: run.id, resume: true, dataPlane: 'redis' });
    for (const seed of [23, 24, 25]) {
      const b = testBatch(SHAPE, seed);
      await resumed.enqueue(b.data, b.shape);
    }
    await resumed.end();
    const out: DeliveredBatch[] = [];
    for await (const r of resumed.results()) out.push(r);
    await resumed.close();
    expect(out.map((b) => b.seq)).toEqual([0, 2]);
    expect(resumed.skipped[0]?.reason).toMatch(/input blob .*\{.*\.1\}:in is missing/);
  });
});

describe.each(TESTED_PLANES)('a driver killed and restarted with --resume, on the %s plane', (plane) => {
  it('continues from the first batch not delivered: no file missing, none written twice, none half-written', async () => {
    await env.stopWorkers();
    // Batches 0..5 go at full speed; from batch 6 on the workers hold each (a minute): the driver
    // can deliver six and no more, so the kill always lands mid-run.
    const holders = await env.startWorkers(2, {
      env: { CNSN_FAULT_DELAY_MS: '60000', CNSN_FAULT_FROM_SEQ: '6' },
    });
    const batches = Array.from({ length: 14 }, (_, i) => testBatch(SHAPE, 500 + i));
    const files = await writeInputs(join(tmp, `resume-in-${plane}`), batches);
    const out = join(tmp, `resume-out-${plane}`);
    const runId = `killme-${plane}`;
    const args = [
      '--import',
      'tsx',
      'apps/cli/src/main.ts',
      'run',
      '--input',
      ...files,
      '--out',
      out,
      '--run-id',
      runId,
      '--redis',
      env.redis.url,
      '--prefix',
      env.prefix,
      '--queue',
      env.queue,
      '--seed',
      '5',
      '--data-plane',
      plane,
      '--no-progress',
    ];
    const driver = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'ignore' });
    const exited = new Promise((r) => driver.once('exit', r));
    const npyWritten = async (): Promise<number> =>
      (await readdir(out).catch(() => [] as string[])).filter((f) => f.endsWith('.npy')).length;
    await waitUntil(async () => (await npyWritten()) >= 6, 120_000, 'six outputs written');
    await waitUntil(() => holders.some((w) => w.log.includes('fault: holding')), 60_000, 'a held batch');
    const redis = new Redis(env.redis.url);
    const endpointOf = (): Promise<string | null> =>
      redis.hget(new Keyspace(env.prefix).run(runId), 'endpoint');
    const killedEndpoint = await endpointOf();
    driver.kill('SIGKILL');
    await exited;
    expect(await npyWritten()).toBe(6);
    // The holders go (their held batches are redone once their locks expire); plain workers come.
    await Promise.all(holders.map((w) => w.kill()));
    env.workers.splice(0);
    await env.startWorkers(2);
    // What a kill in the middle of a write leaves (whether or not this kill hit one), and a file
    // of someone else's that the resumed run must not touch.
    await writeFile(join(out, `in-13.npy.${runId}.partial`), 'half a file');
    await writeFile(join(out, 'notes.txt'), 'not ours');
    const r = await runCnsn([
      'run',
      '--input',
      ...files,
      '--out',
      out,
      '--run-id',
      runId,
      '--resume',
      '--redis',
      env.redis.url,
      '--prefix',
      env.prefix,
      '--queue',
      env.queue,
      '--seed',
      '5',
      '--json',
      '--no-progress',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming at batch \d+/);
    expect(r.stderr).toMatch(
      new RegExp(`removed \\d+ half-written file\\(s\\) .*in-13\\.npy\\.${runId}\\.partial`),
    );
    expect(r.stderr).toContain(`data plane ${plane}: the run's own plane (resumed)`);
    if (plane === 'direct') {
      // The resumed driver serves from a new address; the workers found it through Redis.
      expect(killedEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const resumedEndpoint = /serving at (http:\/\/[^\s;]+)/.exec(r.stderr)?.[1];
      expect(resumedEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(resumedEndpoint).not.toBe(killedEndpoint);
    }
    redis.disconnect();
    expect(await readFile(join(out, 'notes.txt'), 'utf8')).toBe('not ours');
    await rm(join(out, 'notes.txt'));
    const names = (await readdir(out)).sort();
    expect(names).toEqual(files.map((f) => f.split('/').pop()));
    const outputs = await Promise.all(names.map(async (n) => parseNpy(await readFile(join(out, n)), n).data));
    const selfnorm = { mode: 'train' as const, params: defaultSelfNormParams(8, { seed: 5 }) };
    expect(digestOf(outputs)).toBe(await expectedDigest(batches, 5, crossnorm, selfnorm));
  });

  it('--resume of a run Redis never saw (its driver died before registering it) starts it from batch 0 and says so', async () => {
    const batches = Array.from({ length: 3 }, (_, i) => testBatch(SHAPE, 700 + i));
    const files = await writeInputs(join(tmp, `early-in-${plane}`), batches);
    const out = join(tmp, `early-out-${plane}`);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(out, { recursive: true });
    // A file the earlier invocation wrote is kept, as on any resume.
    await writeFile(join(out, 'in-00.npy'), formatNpy(SHAPE, new Float32Array(4 * 8 * 7 * 7)));
    const r = await runCnsn([
      'run',
      '--input',
      ...files,
      '--out',
      out,
      '--run-id',
      `never-registered-${plane}`,
      '--data-plane',
      plane,
      '--resume',
      '--redis',
      env.redis.url,
      '--prefix',
      env.prefix,
      '--queue',
      env.queue,
      '--selfnorm',
      'off',
      '--json',
      '--no-progress',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `run never-registered-${plane}: nothing to resume (Redis never saw this run; its driver died before registering it): starting from batch 0; files already in --out are kept`,
    );
    expect(r.json).toMatchObject({ batches: 3, delivered: 3, failed: 0 });
    expect((r.json as { digest: string }).digest).toBe(await expectedDigest(batches, 0, crossnorm, null));
    expect(parseNpy(await readFile(join(out, 'in-00.npy')), 'kept').data.every((x) => x === 0)).toBe(true);
    expect((await readdir(out)).sort()).toEqual(['in-00.npy', 'in-01.npy', 'in-02.npy']);
  });

  it('a run that finished before the supervisor restarts it: --resume says it is complete and exits 0; reuse without --resume is refused', async () => {
    const batches = Array.from({ length: 4 }, (_, i) => testBatch(SHAPE, 800 + i));
    const files = await writeInputs(join(tmp, `done-in-${plane}`), batches);
    const runId = `finished-${plane}`;
    if (!env.workers.length) await env.startWorkers(2);
    const args = (...more: string[]): string[] => [
      'run',
      '--input',
      ...files,
      '--run-id',
      runId,
      '--data-plane',
      plane,
      '--redis',
      env.redis.url,
      '--prefix',
      env.prefix,
      '--queue',
      env.queue,
      '--selfnorm',
      'off',
      '--json',
      '--no-progress',
      ...more,
    ];
    const first = await runCnsn(args('--resume'));
    expect(first.code, first.stderr).toBe(0);
    const digest = (first.json as { digest: string }).digest;
    expect(digest).toBe(await expectedDigest(batches, 0, crossnorm, null));
    // The driver finished; its supervisor restarts it, as it always does, with --resume.
    const again = await runCnsn(args('--resume'), { timeoutMs: 30_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`run ${runId} is complete (finished `);
    expect(again.stderr).toContain(
      `4 batches delivered in order, 0 failed, digest ${digest}); nothing to resume`,
    );
    expect(again.json).toMatchObject({ run: runId, batches: 4, delivered: 4, digest });
    expect((again.json as { complete?: unknown }).complete).toBeDefined();
    // Reusing the id for another run is refused with one line.
    const reuse = await runCnsn(args(), { timeoutMs: 30_000 });
    expect(reuse.code).toBe(1);
    expect(
      reuse.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('cnsn: error:')),
    ).toEqual([
      expect.stringMatching(
        new RegExp(
          `^cnsn: error: run ${runId} finished .* choose another run id, or pass resume \\(--resume\\) to get its summary$`,
        ),
      ),
    ]);
  });
});
