import type { Command } from 'commander';
import { parseNonNegativeInt } from './parse-options.js';

/** A run's plan stream, as `run` and `plan` take it (CLI.md, PYTHON.md's Streams). */
export interface StreamFlags {
  seed: number;
  rank: number;
  epoch: number;
  start: number;
}

/** `--rank R --epoch E --start K`: which plan stream of the seed, and where in it to begin. */
export function addStreamOptions(cmd: Command): Command {
  return cmd
    .option('--rank <r>', 'data-parallel rank: a plan stream of its own', parseNonNegativeInt, 0)
    .option(
      '--epoch <e>',
      'epoch: a plan stream of its own (rank 0, epoch 0: the historical one)',
      parseNonNegativeInt,
      0,
    )
    .option(
      '--start <k>',
      "position in the stream of the first batch (a trainer's checkpoint): batch k gets the plan of position K + k",
      parseNonNegativeInt,
      0,
    );
}
