import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createBackend,
  defaultSelfNormParams,
  type GpuAdapterInfo,
  listWebGpuAdapters,
  makePlan,
  runGoldenCase,
  type Shape4,
  WebGpuBackend,
} from '@cnsn/kernels';
import { listWorkers } from '@cnsn/pipeline';
import { parseNpy } from '@cnsn/protocol';
import { Command } from 'commander';
import { median, round, timeAugment } from '../bench/time-augment.js';
import { CliError } from '../cli-error.js';
import { openGoldenDir } from '../golden-files.js';
import { parsePositiveInt, parseShape } from '../parse-options.js';
import { syntheticBatch } from '../synthetic.js';
import { executeRun } from './run.js';
import { mainJobFlags } from './start.js';

const DEFAULT_GOLDEN = fileURLToPath(new URL('../../../../../shared/golden', import.meta.url));
const DEFAULT_SHAPES: Shape4[] = [
  [64, 512, 7, 7],
  [64, 256, 56, 56],
];
/** Iterations on a CPU adapter (lavapipe), where a 200 MB batch takes a second: enough to run the check. */
const CPU_ADAPTER_ITERS = 3;
/** Largest |GPU - fused| the end-to-end outputs may differ by (float32, different summation order). */
const E2E_TOLERANCE = 1e-3;

interface GpuCheckFlags {
  golden: string;
  shape: Shape4[];
  iters: number;
  batches: number;
  requireGpu?: boolean;
}

/**
 * `cnsn gpu-check`: what a person runs on a GPU node (tools/gpu-check.sh wraps it for machines
 * without Node): the adapters Dawn sees, the golden cases on webgpu, webgpu beside fused
 * per batch (transfers included), and a short run with a webgpu worker compared with fused.
 * Prints one JSON summary on stdout; exit 1 when a check fails.
 */
export function gpuCheckCommand(): Command {
  return new Command('gpu-check')
    .description(
      'check webgpu on this node: adapters, golden cases, speed beside fused, a short end-to-end run; one JSON summary',
    )
    .option('--golden <dir>', 'golden cases (format: ../shared/golden)', DEFAULT_GOLDEN)
    .option(
      '--shape <N,C,H,W>',
      'a batch shape to time (repeatable)',
      (v: string, acc: Shape4[] | undefined) => [...(acc ?? []), parseShape(v)],
    )
    .option(
      '--iters <i>',
      `timed iterations per shape (${CPU_ADAPTER_ITERS} on a CPU adapter)`,
      parsePositiveInt,
      20,
    )
    .option('--batches <k>', 'batches of the end-to-end run', parsePositiveInt, 12)
    .option('--require-gpu', 'fail unless webgpu runs on a hardware GPU (not lavapipe)')
    .action(async (flags: Omit<GpuCheckFlags, 'shape'> & { shape?: Shape4[] }) => {
      const summary = await gpuCheck({ ...flags, shape: flags.shape ?? DEFAULT_SHAPES });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      if (!summary.passed) process.exitCode = 1;
    });
}

interface GpuCheckSummary {
  passed: boolean;
  failures: string[];
  date: string;
  /** `nvidia-smi`'s name, driver and memory of each GPU, where it is installed. */
  nvidiaSmi: string[];
  adapters: GpuAdapterInfo[];
  backend: string;
  golden: { cases: number; failed: number; maxAbsErr: number };
  bench: Array<{
    shape: Shape4;
    iters: number;
    gpuMs: number;
    fusedMs: number;
    speedupVsFused: number;
    /** Median milliseconds of each phase of a webgpu batch (upload, stats, coefficients, apply). */
    gpuPhasesMs: Record<string, number>;
  }>;
  e2e: { batches: number; delivered: number; seconds: number; workers: string[]; maxAbsDiffVsFused: number };
  seconds: number;
}

async function gpuCheck(flags: GpuCheckFlags): Promise<GpuCheckSummary> {
  const started = performance.now();
  const say = (line: string): boolean => process.stderr.write(`gpu-check: ${line}\n`);
  const failures: string[] = [];
  const adapters = await listWebGpuAdapters();
  say(
    `${adapters.length} adapter(s): ${adapters.map((a) => `${a.kind} ${a.vendor} ${a.device}`).join('; ') || 'none'}`,
  );
  // Each GPU phase's times, per shape (bench resets it).
  const recorder: { phases: Record<string, number[]> } = { phases: {} };
  const gpu = await WebGpuBackend.open({
    onPhase: (name, ms) => (recorder.phases[name] ??= []).push(ms),
  }).catch((err: unknown) => {
    throw new CliError(`webgpu cannot open: ${(err as Error).message}`, 1);
  });
  const onCpu = gpu.adapter.kind === 'cpu';
  say(`webgpu on ${gpu.description}`);
  if (onCpu && flags.requireGpu)
    failures.push(`--require-gpu: webgpu runs on a CPU adapter (${gpu.adapter.device})`);
  const golden = await goldenOnGpu(gpu, flags.golden, say, failures);
  const bench = await besideFused(gpu, flags, onCpu, recorder, say);
  await gpu.dispose();
  const e2e = await endToEnd(flags.batches, say);
  if (e2e.delivered !== e2e.batches)
    failures.push(`e2e: ${e2e.delivered} of ${e2e.batches} batches delivered`);
  if (!(e2e.maxAbsDiffVsFused <= E2E_TOLERANCE))
    failures.push(`e2e: outputs differ from fused by ${e2e.maxAbsDiffVsFused} (> ${E2E_TOLERANCE})`);
  if (!e2e.workers.some((w) => w.startsWith('webgpu'))) failures.push('e2e: no worker reported webgpu');
  const seconds = round((performance.now() - started) / 1000);
  say(failures.length ? `FAILED: ${failures.join('; ')}` : `passed in ${seconds} s`);
  return {
    passed: failures.length === 0,
    failures,
    date: new Date().toISOString(),
    nvidiaSmi: nvidiaSmi(),
    adapters,
    backend: gpu.description,
    golden,
    bench,
    e2e,
    seconds,
  };
}

/** 1. The golden cases on the GPU backend. */
async function goldenOnGpu(
  gpu: WebGpuBackend,
  dir: string,
  say: (line: string) => boolean,
  failures: string[],
): Promise<GpuCheckSummary['golden']> {
  const { cases, read } = await openGoldenDir(dir);
  let failed = 0;
  let maxAbsErr = 0;
  for (const c of cases) {
    const outcome = await runGoldenCase(gpu, c, read);
    maxAbsErr = Math.max(maxAbsErr, outcome.maxAbsErr);
    if (!outcome.passed) failed++;
  }
  say(`golden: ${cases.length - failed}/${cases.length} pass, max abs error ${maxAbsErr.toExponential(2)}`);
  if (failed) failures.push(`golden: ${failed} of ${cases.length} cases fail`);
  return { cases: cases.length, failed, maxAbsErr };
}

/** 2. The GPU beside fused, per batch, the same batches and plans, transfers included. */
async function besideFused(
  gpu: WebGpuBackend,
  flags: GpuCheckFlags,
  onCpu: boolean,
  recorder: { phases: Record<string, number[]> },
  say: (line: string) => boolean,
): Promise<GpuCheckSummary['bench']> {
  const iters = onCpu ? Math.min(flags.iters, CPU_ADAPTER_ITERS) : flags.iters;
  const fused = (await createBackend('fused')).backend;
  const bench: GpuCheckSummary['bench'] = [];
  for (const shape of flags.shape) {
    recorder.phases = {};
    const batch = syntheticBatch(shape, 0, 0);
    const plans = Array.from({ length: iters + 1 }, (_, i) =>
      makePlan(shape, 0, i, { crop: 'both', chan: true }),
    );
    const selfnorm = { mode: 'train' as const, params: defaultSelfNormParams(shape[1]) };
    const gpuTimes = await timeAugment(gpu, batch.data, shape, plans, selfnorm, 1, 'worker');
    const gpuMs = median(gpuTimes);
    // Each phase's median over the timed batches (the first, a warm-up, left out).
    const phasesMs = Object.fromEntries(
      Object.entries(recorder.phases).map(([name, ms]) => [
        name,
        round(median(ms.slice(ms.length - gpuTimes.length))),
      ]),
    );
    const fusedMs = median(await timeAugment(fused, batch.data, shape, plans, selfnorm, 1, 'worker'));
    bench.push({
      shape,
      iters,
      gpuMs: round(gpuMs),
      fusedMs: round(fusedMs),
      speedupVsFused: round(fusedMs / gpuMs),
      gpuPhasesMs: phasesMs,
    });
    say(
      `${shape.join('x')}: webgpu ${gpuMs.toFixed(2)} ms, fused ${fusedMs.toFixed(2)} ms per batch (${(fusedMs / gpuMs).toFixed(2)}x); webgpu phases ${JSON.stringify(phasesMs)}`,
    );
  }
  await fused.dispose();
  return bench;
}

function nvidiaSmi(): string[] {
  const smi = spawnSync(
    'nvidia-smi',
    ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'],
    {
      encoding: 'utf8',
      timeout: 10_000,
    },
  );
  return smi.status === 0 ? smi.stdout.trim().split('\n').filter(Boolean) : [];
}

async function endToEnd(batches: number, say: (line: string) => boolean): Promise<GpuCheckSummary['e2e']> {
  const dir = await mkdtemp(join(tmpdir(), 'cnsn-gpu-check-'));
  try {
    const base = mainJobFlags({
      batches,
      shape: [32, 256, 14, 14],
      seed: 1,
      workersLocal: 1,
      backend: 'fused',
      prefix: '{cnsn-gpu-check}',
      progress: false,
    });
    let workers: string[] = [];
    const gpuRun = await executeRun(
      { ...base, backend: 'webgpu', out: join(dir, 'gpu') },
      {
        after: async (ctx) => {
          workers = (await listWorkers(ctx.pipeline.redis, ctx.pipeline.keys)).map((w) => w.backendDetail);
        },
      },
    );
    await executeRun({ ...base, out: join(dir, 'fused') });
    let maxAbsDiffVsFused = 0;
    const files = (await readdir(join(dir, 'gpu'))).filter((f) => f.endsWith('.npy')).sort();
    for (const f of files) {
      const a = parseNpy(await readFile(join(dir, 'gpu', f)), f).data;
      const b = parseNpy(await readFile(join(dir, 'fused', f)), f).data;
      for (let i = 0; i < a.length; i++)
        maxAbsDiffVsFused = Math.max(maxAbsDiffVsFused, Math.abs((a[i] as number) - (b[i] as number)));
    }
    say(
      `e2e: ${gpuRun.delivered}/${gpuRun.batches} delivered in ${gpuRun.seconds.toFixed(2)} s by ${workers.join(', ')}; max |gpu - fused| ${maxAbsDiffVsFused.toExponential(2)}`,
    );
    return {
      batches: gpuRun.batches,
      delivered: gpuRun.delivered,
      seconds: gpuRun.seconds,
      workers,
      maxAbsDiffVsFused,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
