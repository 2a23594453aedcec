import { makePlan, type Shape4 } from '@cnsn/kernels';
import { Command } from 'commander';
import { addCrossNormOptions, crossNormOptionsFrom, type CrossNormFlags } from '../augment-options.js';
import { addStreamOptions, type StreamFlags } from '../stream-options.js';
import { CliError } from '../cli-error.js';
import { parseNonNegativeInt, parsePositiveInt, parseShape } from '../parse-options.js';

interface PlanFlags extends CrossNormFlags, StreamFlags {
  shape: Shape4;
  batches: number;
  firstSeq?: number;
}

/** `cnsn plan`: the plans a run would apply, one JSON line per batch; nothing runs. */
export function planCommand(): Command {
  const cmd = new Command('plan')
    .description('print the CrossNorm plans a run would apply, one JSON line per batch')
    .requiredOption('--shape <N,C,H,W>', 'batch shape', parseShape)
    .option('--batches <k>', 'how many batches', parsePositiveInt, 1)
    .option('--first-seq <q>', 'first position in the stream (as --start)', parseNonNegativeInt);
  addStreamOptions(cmd);
  addCrossNormOptions(cmd);
  return cmd.action((flags: PlanFlags) => {
    const options = crossNormOptionsFrom(flags);
    if (flags.firstSeq !== undefined && flags.start !== 0 && flags.firstSeq !== flags.start)
      throw new CliError('--first-seq and --start say the same thing; give one');
    const first = flags.firstSeq ?? flags.start;
    const stream = { rank: flags.rank, epoch: flags.epoch };
    const lines: string[] = [];
    // `seq` is the position in the stream: a listing from --start K continues one from 0.
    for (let seq = first; seq < first + flags.batches; seq++) {
      let plan;
      try {
        plan = makePlan(flags.shape, flags.seed, seq, options, stream);
      } catch (err) {
        throw new CliError(`batch ${seq}: ${(err as Error).message}`);
      }
      lines.push(JSON.stringify({ seq, ...plan }));
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
