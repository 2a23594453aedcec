#!/usr/bin/env node
// cnsn: the command line of cnsn-pipeline (../shared/CLI.md is its contract).
import { Command, CommanderError } from 'commander';
import { CliError } from './cli-error.js';
import { benchKernelCommand } from './commands/bench-kernel.js';
import { benchPipelineCommand } from './commands/bench-pipeline.js';
import { goldenCheckCommand } from './commands/golden-check.js';
import { planCommand } from './commands/plan.js';
import { runCommand } from './commands/run.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';

const program = new Command('cnsn')
  .description('CrossNorm/SelfNorm augmentation as a distributed pipeline over Redis')
  .showHelpAfterError()
  .exitOverride();

program.addCommand(goldenCheckCommand());
program.addCommand(planCommand());
program.addCommand(runCommand());
program.addCommand(startCommand());
program.addCommand(statusCommand());
program.addCommand(
  new Command('bench')
    .description('benchmarks')
    .addCommand(benchKernelCommand())
    .addCommand(benchPipelineCommand()),
);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof CliError) {
    process.stderr.write(`cnsn: error: ${err.message}\n`);
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`cnsn: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
