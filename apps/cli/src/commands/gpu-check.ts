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
  type SelfNormConfig,
  type Shape4,
  WebGpuBackend,
} from '@cnsn/kernels';
import { listWorkers } from '@cnsn/pipeline';
import { narrowFloat32, parseNpy, widenToFloat32 } from '@cnsn/protocol';
import { Command } from 'commander';
import { median, round, timeAugment } from '../bench/time-augment.js';
import { CliError } from '../cli-error.js';
import { openGoldenDir } from '../golden-files.js';
import { parsePositiveInt, parseShape } from '../parse-options.js';
import { syntheticBatch } from '../synthetic.js';
import { executeRun } from './run.js';
import { mainJobFlags } from './start.js';

const DEFAULT_GOLDEN = fileURLToPath(new URL('../../../../testdata/golden', import.meta.url));
const DEFAULT_SHAPES: Shape4[] = [
  [64, 512, 7, 7],
  [64, 256, 56, 56],
];
/** The throughput run's shape and batches: a 205 MB map on a GPU, a small one on a CPU adapter (CI). */
const THROUGHPUT_GPU = { shape: [64, 256, 56, 56] as Shape4, batches: 24 };
const THROUGHPUT_CPU = { shape: [16, 64, 14, 14] as Shape4, batches: 6 };

/** Iterations on a CPU adapter (lavapipe), where a 200 MB batch takes a second: enough to run the check. */
const CPU_ADAPTER_ITERS = 3;
/** Largest |GPU - fused| the end-to-end outputs may differ by (float32, different summation order). */
const E2E_TOLERANCE = 1e-3;

interface GpuCheckFlags {
  golden: string;
  shape: Shape4[];
  iters: number;
  batches: number;
  throughputShape?: Shape4;
  throughputBatches?: number;
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
    .option('--golden <dir>', 'golden cases (format: testdata/golden/README.md)', DEFAULT_GOLDEN)
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
    .option(
      '--throughput-shape <N,C,H,W>',
      `the throughput runs' batch shape (default ${THROUGHPUT_GPU.shape.join(',')} on a GPU, ${THROUGHPUT_CPU.shape.join(',')} on a CPU adapter)`,
      parseShape,
    )
    .option('--throughput-batches <k>', "the throughput runs' batches", parsePositiveInt)
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
    /** webgpu from a host array into a host array: the copy into staging and out of the read-back included. */
    gpuMs: number;
    /** As a worker runs it: the input received in staging, the result left in the mapped read-back. */
    gpuInPlaceMs: number;
    /** Two slots at once, as a worker's default 2 batches in hand, each input written into its staging: wall time per batch. */
    gpuOverlappedMs: number;
    fusedMs: number;
    speedupVsFused: number;
    /** gpuOverlappedMs against fused. */
    overlappedVsFused: number;
    /** A bfloat16 batch received into staging, widened and narrowed on the GPU, as a worker runs it (null for a batch of several segments, converted on the host). */
    gpuBfloat16Ms: number | null;
    /** The same batch with the host's conversions: widened into staging, the output narrowed on the host. */
    gpuBfloat16HostMs: number;
    /** Median milliseconds of each phase of a batch, submitted one phase at a time (profilePhases). */
    gpuPhasesMs: Record<string, number>;
  }>;
  e2e: { batches: number; delivered: number; seconds: number; workers: string[]; maxAbsDiffVsFused: number };
  /** One webgpu worker on the direct plane beside one and two fused workers, the same batches. */
  throughput: { shape: Shape4; batches: number; rows: Array<{ workers: string; gbPerSec: number }> };
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
  const gpu = await WebGpuBackend.open().catch((err: unknown) => {
    throw new CliError(`webgpu cannot open: ${(err as Error).message}`, 1);
  });
  const onCpu = gpu.adapter.kind === 'cpu';
  say(`webgpu on ${gpu.description}`);
  if (onCpu && flags.requireGpu)
    failures.push(`--require-gpu: webgpu runs on a CPU adapter (${gpu.adapter.device})`);
  const golden = await goldenOnGpu(gpu, flags.golden, say, failures);
  const bench = await besideFused(gpu, flags, onCpu, say);
  await gpu.dispose();
  const e2e = await endToEnd(flags.batches, say);
  const throughput = await throughputRuns(flags, onCpu, say);
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
    throughput,
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

/** 2. The GPU beside fused, per batch, the same batches and plans; then its phases one by one. */
async function besideFused(
  gpu: WebGpuBackend,
  flags: GpuCheckFlags,
  onCpu: boolean,
  say: (line: string) => boolean,
): Promise<GpuCheckSummary['bench']> {
  const iters = onCpu ? Math.min(flags.iters, CPU_ADAPTER_ITERS) : flags.iters;
  const fused = (await createBackend('fused')).backend;
  const bench: GpuCheckSummary['bench'] = [];
  for (const shape of flags.shape) {
    const batch = syntheticBatch(shape, 0, 0);
    const plans = Array.from({ length: iters + 1 }, (_, i) =>
      makePlan(shape, 0, i, { crop: 'both', chan: true }),
    );
    const selfnorm = { mode: 'train' as const, params: defaultSelfNormParams(shape[1]) };
    const gpuMs = median(await timeAugment(gpu, batch.data, shape, plans, selfnorm, 1, 'copies'));
    const gpuInPlaceMs = median(await timeAugment(gpu, batch.data, shape, plans, selfnorm, 1, 'worker'));
    const gpuOverlappedMs = await timeOverlapped(gpu, batch.data, shape, plans, selfnorm);
    const halves = await timeHalves(gpu, batch.data, shape, plans, selfnorm);
    const gpuPhasesMs = await phasesOf(batch.data, shape, plans, selfnorm);
    const fusedMs = median(await timeAugment(fused, batch.data, shape, plans, selfnorm, 1, 'worker'));
    bench.push({
      shape,
      iters,
      gpuMs: round(gpuMs),
      gpuInPlaceMs: round(gpuInPlaceMs),
      gpuOverlappedMs: round(gpuOverlappedMs),
      fusedMs: round(fusedMs),
      speedupVsFused: round(fusedMs / gpuMs),
      overlappedVsFused: round(fusedMs / gpuOverlappedMs),
      gpuBfloat16Ms: Number.isNaN(halves.onGpu) ? null : round(halves.onGpu),
      gpuBfloat16HostMs: round(halves.onHost),
      gpuPhasesMs,
    });
    say(
      `${shape.join('x')}: webgpu ${gpuMs.toFixed(2)} ms from host arrays, ${gpuInPlaceMs.toFixed(2)} ms in place, ${gpuOverlappedMs.toFixed(2)} ms a batch with 2 slots; fused ${fusedMs.toFixed(2)} ms (${(fusedMs / gpuOverlappedMs).toFixed(2)}x); bfloat16 ${Number.isNaN(halves.onGpu) ? 'not' : `${halves.onGpu.toFixed(2)} ms`} converted on the GPU (one segment only), ${halves.onHost.toFixed(2)} ms on the host; phases ${JSON.stringify(gpuPhasesMs)}`,
    );
  }
  await fused.dispose();
  return bench;
}

/**
 * Wall milliseconds per batch with two slots at once, each writing its input into its staging
 * (what receiving it costs a worker) and leaving its result mapped: one batch's transfer and
 * host work overlap the other's passes.
 */
async function timeOverlapped(
  gpu: WebGpuBackend,
  input: Float32Array,
  shape: Shape4,
  plans: ReturnType<typeof makePlan>[],
  selfnorm: SelfNormConfig,
): Promise<number> {
  const slot = async (id: number, from: number): Promise<void> => {
    for (let i = from; i < plans.length; i += 2) {
      const data = await gpu.inputFloats(id, shape);
      data.set(input);
      await gpu.augmentIn(id, { data, shape }, { plan: plans[i] as (typeof plans)[number], selfnorm });
    }
  };
  // One batch in each slot first, so that both slots' buffers exist before the clock starts.
  for (const id of [0, 1]) {
    const data = await gpu.inputFloats(id, shape);
    data.set(input);
    await gpu.augmentIn(id, { data, shape }, { plan: plans[0] as (typeof plans)[number], selfnorm });
  }
  const t0 = performance.now();
  await Promise.all([slot(0, 0), slot(1, 1)]);
  return (performance.now() - t0) / plans.length;
}

/**
 * Median milliseconds of a bfloat16 batch as a worker runs it: received into staging and converted
 * on the GPU, against widened into staging and narrowed after on the host.
 */
async function timeHalves(
  gpu: WebGpuBackend,
  input: Float32Array,
  shape: Shape4,
  plans: ReturnType<typeof makePlan>[],
  selfnorm: SelfNormConfig,
): Promise<{ onGpu: number; onHost: number }> {
  const halves = narrowFloat32(input, 'bfloat16', new Uint16Array(input.length));
  const out = new Uint16Array(input.length);
  const onGpu: number[] = [];
  const onHost: number[] = [];
  for (const [i, plan] of plans.entries()) {
    const request = { plan, selfnorm };
    const target = await gpu.inputTarget(0, shape, 0, 'bfloat16');
    if (target) {
      target.set(new Uint8Array(halves.buffer));
      const t0 = performance.now();
      await gpu.augmentHalf(0, shape, request, 'bfloat16');
      if (i > 0) onGpu.push(performance.now() - t0);
    }
    const floats = await gpu.inputFloats(0, shape);
    const t0 = performance.now();
    widenToFloat32(halves, 'bfloat16', floats);
    narrowFloat32((await gpu.augmentIn(0, { data: floats, shape }, request)).data, 'bfloat16', out);
    if (i > 0) onHost.push(performance.now() - t0);
  }
  // A batch of several segments converts on the host only.
  return { onGpu: onGpu.length ? median(onGpu) : NaN, onHost: median(onHost) };
}

/** Each phase's median milliseconds, on a device of its own that submits one phase at a time. */
async function phasesOf(
  input: Float32Array,
  shape: Shape4,
  plans: ReturnType<typeof makePlan>[],
  selfnorm: SelfNormConfig,
): Promise<Record<string, number>> {
  const phases: Record<string, number[]> = {};
  const profiled = await WebGpuBackend.open({
    profilePhases: true,
    onPhase: (name, ms) => (phases[name] ??= []).push(ms),
  });
  await timeAugment(profiled, input, shape, plans, selfnorm, 1, 'worker');
  await profiled.dispose();
  // The first batch, a warm-up, left out.
  return Object.fromEntries(Object.entries(phases).map(([name, ms]) => [name, round(median(ms.slice(1)))]));
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

/** 4. One webgpu worker on the direct plane beside one and two fused workers: GB/s of input, end to end. */
async function throughputRuns(
  flags: GpuCheckFlags,
  onCpu: boolean,
  say: (line: string) => boolean,
): Promise<GpuCheckSummary['throughput']> {
  const { shape, batches } = flags.throughputShape
    ? { shape: flags.throughputShape, batches: flags.throughputBatches ?? THROUGHPUT_GPU.batches }
    : onCpu
      ? THROUGHPUT_CPU
      : THROUGHPUT_GPU;
  const rows: GpuCheckSummary['throughput']['rows'] = [];
  for (const [backend, workers] of [
    ['webgpu', 1],
    ['fused', 1],
    ['fused', 2],
  ] as const) {
    const run = await executeRun(
      mainJobFlags({
        batches: flags.throughputBatches ?? batches,
        shape,
        seed: 1,
        workersLocal: workers,
        backend,
        dataPlane: 'direct',
        prefix: '{cnsn-gpu-check}',
        progress: false,
      }),
    );
    rows.push({ workers: `${backend} x${workers}`, gbPerSec: run.gbPerSec });
  }
  say(
    `throughput ${shape.join('x')}, direct plane: ${rows.map((r) => `${r.workers} ${r.gbPerSec.toFixed(3)} GB/s`).join(', ')}`,
  );
  return { shape, batches: flags.throughputBatches ?? batches, rows };
}
