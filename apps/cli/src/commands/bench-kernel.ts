import {
  type KernelBackend,
  BACKEND_NAMES,
  type BackendName,
  FusedBackend,
  makePlan,
  type Shape4,
} from '@cnsn/kernels';
import { Command, Option } from 'commander';
import {
  addCrossNormOptions,
  addSelfNormOptions,
  crossNormOptionsFrom,
  type CrossNormFlags,
  selfNormConfigFrom,
  type SelfNormFlags,
} from '../augment-options.js';
import { backendOption, openBackend } from '../backend-option.js';
import { parseNonNegativeInt, parsePositiveInt, parseShape } from '../parse-options.js';
import { syntheticBatch } from '../synthetic.js';
import { median, round, timeAugment } from '../bench/time-augment.js';
import { DEFAULT_TORCH_BENCH, runTorchBaseline } from '../reference-scripts.js';

interface BenchFlags extends CrossNormFlags, SelfNormFlags {
  shape: Shape4;
  backend: BackendName;
  iters: number;
  warmup: number;
  seed: number;
  baselineTorch?: string | true;
  torchThreads: number;
  beside?: BackendName;
}

/** `cnsn bench kernel`: in-process kernel timing, no Redis; median over the iterations. */
export function benchKernelCommand(): Command {
  const cmd = new Command('kernel')
    .description('time one backend on synthetic batches (median ms per batch, input GB/s)')
    .option('--shape <N,C,H,W>', 'batch shape', parseShape, [64, 512, 7, 7])
    .addOption(backendOption('fused'))
    .addOption(
      new Option(
        '--beside <name>',
        'also time this backend on the same batches in the same run, and give the ratio (e.g. --backend webgpu --beside fused)',
      ).choices(BACKEND_NAMES),
    )
    .option('--iters <i>', 'timed iterations', parsePositiveInt, 50)
    .option('--warmup <w>', 'untimed iterations first', parseNonNegativeInt, 5)
    .option('--seed <s>', 'seed of data and plans', parseNonNegativeInt, 0)
    .option(
      '--baseline-torch [script]',
      `also time the paper's PyTorch code in the same minute (default ${DEFAULT_TORCH_BENCH})`,
    )
    .option('--torch-threads <t>', 'torch threads for the baseline', parsePositiveInt, 2);
  addCrossNormOptions(cmd);
  addSelfNormOptions(cmd);
  return cmd.action(benchKernel);
}

/** The batch, its plans and the backend's SelfNorm config: the same for every backend timed. */
interface KernelWork {
  batch: ReturnType<typeof syntheticBatch>;
  plans: ReturnType<typeof makePlan>[];
  selfnorm: Awaited<ReturnType<typeof selfNormConfigFrom>>;
}

async function benchKernel(flags: BenchFlags): Promise<void> {
  const options = crossNormOptionsFrom(flags);
  const shape = flags.shape;
  const selfnorm = await selfNormConfigFrom(flags, shape[1], flags.seed);
  const { backend } = await openBackend(flags.backend);
  const total = flags.warmup + flags.iters;
  const work: KernelWork = {
    batch: syntheticBatch(shape, flags.seed, 0),
    plans: Array.from({ length: total }, (_, i) => makePlan(shape, flags.seed, i, options)),
    selfnorm,
  };
  process.stderr.write(
    `bench kernel: ${backend.description}, ${shape.join('x')}, crop ${options.crop}${options.chan ? ' + chan' : ''}, SelfNorm ${flags.selfnorm}, ${flags.iters} iterations\n`,
  );
  const time = (b: KernelBackend, mode: 'worker' | 'copies'): Promise<number[]> =>
    timeAugment(b, work.batch.data, shape, work.plans, work.selfnorm, flags.warmup, mode);
  const bytes = work.batch.data.byteLength;
  const ms = median(await time(backend, 'worker'));
  const copies = backend instanceof FusedBackend ? median(await time(backend, 'copies')) : null;
  const result: Record<string, unknown> = {
    backend: backend.name,
    shape,
    msPerBatch: round(ms),
    gbPerSec: round(bytes / ms / 1e6),
    ...(copies !== null ? { msPerBatchWithCopies: round(copies) } : {}),
  };
  process.stderr.write(
    `${backend.name}: ${ms.toFixed(3)} ms/batch (median), ${(bytes / ms / 1e6).toFixed(2)} GB/s${copies !== null ? `; with a copy in and out: ${copies.toFixed(3)} ms` : ''}\n`,
  );
  if (flags.beside) Object.assign(result, await besideFigures(flags.beside, backend.name, ms, time));
  if (backend.adapter) result.adapter = backend.adapter;
  if (flags.baselineTorch) Object.assign(result, await torchFigures(flags, ms));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await backend.dispose();
}

/** A second backend on the same batches and plans, and how the first compares. */
async function besideFigures(
  name: BackendName,
  first: string,
  ms: number,
  time: (b: KernelBackend, mode: 'worker') => Promise<number[]>,
): Promise<Record<string, unknown>> {
  const other = (await openBackend(name)).backend;
  const besideMs = median(await time(other, 'worker'));
  await other.dispose();
  process.stderr.write(
    `beside: ${other.description}: ${besideMs.toFixed(3)} ms/batch (median); ${first} is ${(besideMs / ms).toFixed(2)}x ${other.name}\n`,
  );
  return {
    beside: { backend: other.name, description: other.description, msPerBatch: round(besideMs) },
    speedupVsBeside: round(besideMs / ms),
  };
}

/** The paper's PyTorch code on the same shape, in the same minute. */
async function torchFigures(flags: BenchFlags, ms: number): Promise<Record<string, unknown>> {
  const script = flags.baselineTorch === true ? undefined : flags.baselineTorch;
  const torch = await runTorchBaseline(flags.shape, flags.torchThreads, script);
  process.stderr.write(`baseline: ${torch.line}\n`);
  process.stderr.write(`speedup over the paper's PyTorch code: ${(torch.msPerBatch / ms).toFixed(1)}x\n`);
  return { torchMsPerBatch: torch.msPerBatch, speedupVsTorch: round(torch.msPerBatch / ms) };
}
