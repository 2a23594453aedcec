import { makePlan, type Shape4 } from '@cnsn/kernels';
import { Command } from 'commander';
import { addCrossNormOptions, crossNormOptionsFrom, type CrossNormFlags } from '../augment-options.js';
import { CliError } from '../cli-error.js';
import { parseNonNegativeInt, parsePositiveInt, parseShape } from '../parse-options.js';

interface PlanFlags extends CrossNormFlags {
  shape: Shape4;
  seed: number;
  batches: number;
  firstSeq: number;
}

/** `cnsn plan`: the plans a run would apply, one JSON line per batch; nothing runs. */
export function planCommand(): Command {
  const cmd = new Command('plan')
    .description('print the CrossNorm plans a run would apply, one JSON line per batch')
    .requiredOption('--shape <N,C,H,W>', 'batch shape', parseShape)
    .option('--seed <s>', 'run seed', parseNonNegativeInt, 0)
    .option('--batches <k>', 'how many batches', parsePositiveInt, 1)
    .option('--first-seq <q>', 'first batch number', parseNonNegativeInt, 0);
  addCrossNormOptions(cmd);
  return cmd.action((flags: PlanFlags) => {
    const options = crossNormOptionsFrom(flags);
    const lines: string[] = [];
    for (let seq = flags.firstSeq; seq < flags.firstSeq + flags.batches; seq++) {
      let plan;
      try {
        plan = makePlan(flags.shape, flags.seed, seq, options);
      } catch (err) {
        throw new CliError(`batch ${seq}: ${(err as Error).message}`);
      }
      lines.push(JSON.stringify({ seq, ...plan }));
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
