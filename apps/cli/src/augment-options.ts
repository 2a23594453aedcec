import { readFile } from 'node:fs/promises';
import {
  CROPS,
  type CrossNormOptions,
  defaultSelfNormParams,
  resolveCrossNormOptions,
  type SelfNormConfig,
  type SelfNormMode,
  validateSelfNormParams,
  type SelfNormParams,
} from '@cnsn/kernels';
import { type Command, Option } from 'commander';
import { CliError } from './cli-error.js';
import { parseNumber } from './parse-options.js';

/** The augmentation flags shared by `run`, `plan` and `bench kernel` (CLI.md). */
export function addCrossNormOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--crop <mode>', 'crop mode').choices(CROPS).default('both'))
    .option('--chan', 'shuffle channels too (default)')
    .option('--no-chan', 'do not shuffle channels')
    .option('--beta <b>', 'Beta(b, b) of the box sampler', parseNumber, 1)
    .option('--bbx-thres <t>', 'minimum box area ratio (exclusive)', parseNumber, 0.1)
    .option('--lam <l>', 'out = lam * x + (1 - lam) * crossnormed', parseNumber)
    .option('--cn-prob <p>', 'probability that CrossNorm fires on a batch', parseNumber, 1);
}

export function addSelfNormOptions(cmd: Command, defaultMode = 'train'): Command {
  return cmd
    .addOption(
      new Option('--selfnorm <mode>', 'SelfNorm after CrossNorm')
        .choices(['off', 'train', 'eval'])
        .default(defaultMode),
    )
    .option('--selfnorm-two', 'the two-gate SelfNorm variant')
    .option(
      '--selfnorm-params <file>',
      "JSON in the golden manifest's selfnorm.params form (default: PyTorch init, seeded)",
    );
}

export interface CrossNormFlags {
  crop: CrossNormOptions['crop'];
  chan: boolean;
  beta: number;
  bbxThres: number;
  lam?: number;
  cnProb: number;
}

export function crossNormOptionsFrom(flags: CrossNormFlags): CrossNormOptions {
  try {
    return resolveCrossNormOptions({
      crop: flags.crop,
      chan: flags.chan,
      beta: flags.beta,
      bbxThres: flags.bbxThres,
      lam: flags.lam ?? null,
      cnProb: flags.cnProb,
    });
  } catch (err) {
    throw new CliError(`invalid option ${(err as Error).message}`);
  }
}

export interface SelfNormFlags {
  selfnorm: 'off' | SelfNormMode;
  selfnormTwo?: boolean;
  selfnormParams?: string;
}

/** The SelfNorm config of a run: parameters from a file, or PyTorch's default init from the seed. */
export async function selfNormConfigFrom(
  flags: SelfNormFlags,
  channels: number,
  seed: number,
): Promise<SelfNormConfig | null> {
  if (flags.selfnorm === 'off') return null;
  let params: SelfNormParams;
  if (flags.selfnormParams) {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(flags.selfnormParams, 'utf8'));
    } catch (err) {
      throw new CliError(`--selfnorm-params ${flags.selfnormParams}: ${(err as Error).message}`);
    }
    try {
      params = validateSelfNormParams(raw as SelfNormParams, channels);
    } catch (err) {
      throw new CliError(`--selfnorm-params ${flags.selfnormParams}: ${(err as Error).message}`);
    }
  } else {
    params = defaultSelfNormParams(channels, { seed, two: flags.selfnormTwo ?? false });
  }
  return { mode: flags.selfnorm, params };
}
