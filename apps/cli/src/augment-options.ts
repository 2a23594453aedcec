import { readFile } from 'node:fs/promises';
import {
  type CrossNormOptions,
  defaultSelfNormParams,
  resolveCrossNormOptions,
  type SelfNormConfig,
  type SelfNormMode,
  validateSelfNormParams,
  type SelfNormParams,
} from '@cnsn/kernels';
import { RUN_OPTIONS } from '@cnsn/protocol';
import type { Command } from 'commander';
import { CliError } from './cli-error.js';
import { addOptionFlags } from './option-flags.js';

/** The CrossNorm options of a run, as RUN_OPTIONS declares them. */
export const CROSSNORM_KEYS = RUN_OPTIONS.filter((o) => o.group === 'crossnorm').map((o) => o.key);

/** The augmentation flags shared by `run`, `plan` and `bench kernel` (docs/cli.md). */
export function addCrossNormOptions(cmd: Command): Command {
  return addOptionFlags(cmd, CROSSNORM_KEYS);
}

export function addSelfNormOptions(cmd: Command): Command {
  return addOptionFlags(cmd, ['selfnorm'])
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
