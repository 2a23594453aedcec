import type { Command } from 'commander';
import { addOptionFlags } from './option-flags.js';

/** A run's plan stream, as `run` and `plan` take it (docs/cli.md, docs/python.md's Streams). */
export interface StreamFlags {
  seed: number;
  rank: number;
  epoch: number;
  start: number;
}

/** `--seed S --rank R --epoch E --start K`: which plan stream, and where in it to begin (RUN_OPTIONS). */
export function addStreamOptions(cmd: Command): Command {
  return addOptionFlags(cmd, ['seed', 'rank', 'epoch', 'start']);
}
