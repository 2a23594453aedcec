import { BACKEND_NAMES, type BackendName, FusedBackend, makePlan, type Shape4 } from '@cnsn/kernels';
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
  return cmd.action(async (flags: BenchFlags) => {
    const options = crossNormOptionsFrom(flags);
    const shape = flags.shape;
    const selfnorm = await selfNormConfigFrom(flags, shape[1], flags.seed);
    const { backend } = await openBackend(flags.backend);
    const batch = syntheticBatch(shape, flags.seed, 0);
    const total = flags.warmup + flags.iters;
    const plans = Array.from({ length: total }, (_, i) => makePlan(shape, flags.seed, i, options));
    process.stderr.write(
      `bench kernel: ${backend.description}, ${shape.join('x')}, crop ${options.crop}${options.chan ? ' + chan' : ''}, SelfNorm ${flags.selfnorm}, ${flags.iters} iterations\n`,
    );

    const times = await timeAugment(backend, batch.data, shape, plans, selfnorm, flags.warmup, 'worker');
    const copies =
      backend instanceof FusedBackend
        ? await timeAugment(backend, batch.data, shape, plans, selfnorm, flags.warmup, 'copies')
        : null;
    const bytes = batch.data.byteLength;
    const ms = median(times);
    const result: Record<string, unknown> = {
      backend: backend.name,
      shape,
      msPerBatch: round(ms),
      gbPerSec: round(bytes / ms / 1e6),
    };
    if (copies) result.msPerBatchWithCopies = round(median(copies));
    process.stderr.write(
      `${backend.name}: ${ms.toFixed(3)} ms/batch (median), ${(bytes / ms / 1e6).toFixed(2)} GB/s${copies ? `; with a copy in and out: ${median(copies).toFixed(3)} ms` : ''}\n`,
    );
    if (flags.beside) {
      const other = (await openBackend(flags.beside)).backend;
      const besideTimes = await timeAugment(
        other,
        batch.data,
        shape,
        plans,
        selfnorm,
        flags.warmup,
        'worker',
      );
      const besideMs = median(besideTimes);
      await other.dispose();
      process.stderr.write(
        `beside: ${other.description}: ${besideMs.toFixed(3)} ms/batch (median); ${backend.name} is ${(besideMs / ms).toFixed(2)}x ${other.name}\n`,
      );
      result.beside = { backend: other.name, description: other.description, msPerBatch: round(besideMs) };
      result.speedupVsBeside = round(besideMs / ms);
    }
    if (backend.adapter) result.adapter = backend.adapter;
    if (flags.baselineTorch) {
      const script = flags.baselineTorch === true ? undefined : flags.baselineTorch;
      const torch = await runTorchBaseline(shape, flags.torchThreads, script);
      process.stderr.write(`baseline: ${torch.line}\n`);
      process.stderr.write(`speedup over the paper's PyTorch code: ${(torch.msPerBatch / ms).toFixed(1)}x\n`);
      result.torchMsPerBatch = torch.msPerBatch;
      result.speedupVsTorch = round(torch.msPerBatch / ms);
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await backend.dispose();
  });
}
