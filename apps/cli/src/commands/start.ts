import { DEFAULT_PREFIX, DEFAULT_QUEUE, RUN_OPTIONS } from '@cnsn/protocol';
import { Command } from 'commander';
import { cliDefault } from '../option-flags.js';
import { executeRun, printSummary, type RunFlags } from './run.js';

/** `npm start`: the main job on embedded defaults (docs/cli.md). */
export const START_DEFAULTS = { batches: 60, shape: [64, 512, 7, 7] as [number, number, number, number] };

/**
 * The main job's run: synthetic batches on a private Redis with local workers, CrossNorm (crop both
 * + chan) and SelfNorm (train). `npm start` runs it as is; the GPU check with its own overrides.
 */
export function mainJobFlags(overrides: Partial<RunFlags> = {}): RunFlags {
  return {
    synthetic: true,
    batches: START_DEFAULTS.batches,
    shape: START_DEFAULTS.shape,
    // Every run option at its command-line default (RUN_OPTIONS): `cnsn run`'s own defaults.
    ...(Object.fromEntries(
      RUN_OPTIONS.map((o) => [o.key, cliDefault(o.key)]).filter(([, v]) => v !== undefined),
    ) as unknown as Pick<
      RunFlags,
      | 'seed'
      | 'onError'
      | 'crop'
      | 'chan'
      | 'beta'
      | 'bbxThres'
      | 'cnProb'
      | 'selfnorm'
      | 'dataPlane'
      | 'wire'
    >),
    workersLocal: 2,
    backend: 'auto',
    prefix: DEFAULT_PREFIX,
    queue: DEFAULT_QUEUE,
    // A private server even when REDIS_URL is set: `npm start` must need nothing else.
    privateRedis: true,
    ...overrides,
  };
}

export function startCommand(): Command {
  return new Command('start')
    .description(
      `the main job on embedded defaults: a private Redis, 2 local workers, ${START_DEFAULTS.batches} synthetic ${START_DEFAULTS.shape.join('x')} batches, CrossNorm (crop both + chan) and SelfNorm (train)`,
    )
    .option('--json', 'last line of stdout: the summary as JSON')
    .action(async (flags: { json?: boolean }) => {
      const run = mainJobFlags();
      process.stderr.write('cnsn start: generating synthetic batches, starting Redis and 2 workers...\n');
      printSummary(await executeRun(run), flags.json ?? false);
    });
}
