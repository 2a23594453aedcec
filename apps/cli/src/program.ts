import { Command } from 'commander';
import { benchClusterCommand } from './commands/bench-cluster.js';
import { benchKernelCommand } from './commands/bench-kernel.js';
import { benchPipelineCommand } from './commands/bench-pipeline.js';
import { benchTransportCommand } from './commands/bench-transport.js';
import { gatewayCommand } from './commands/gateway.js';
import { gpuCheckCommand } from './commands/gpu-check.js';
import { goldenCheckCommand } from './commands/golden-check.js';
import { optionsCommand } from './commands/options.js';
import { planCommand } from './commands/plan.js';
import { previewCommand } from './commands/preview.js';
import { runCommand } from './commands/run.js';
import { startCommand } from './commands/start.js';
import { statusCommand } from './commands/status.js';

/** The `cnsn` command tree (docs/cli.md documents it, and a test holds the two together). */
export function cnsnProgram(): Command {
  const program = new Command('cnsn')
    .description('CrossNorm/SelfNorm augmentation as a distributed pipeline over Redis')
    .option('--verbose', 'stack traces with errors, and debug notices (also: DEBUG=1)')
    .showHelpAfterError()
    .exitOverride();

  program.addCommand(gatewayCommand());
  program.addCommand(goldenCheckCommand());
  program.addCommand(gpuCheckCommand());
  program.addCommand(optionsCommand());
  program.addCommand(planCommand());
  program.addCommand(previewCommand());
  program.addCommand(runCommand());
  program.addCommand(startCommand());
  program.addCommand(statusCommand());
  program.addCommand(
    new Command('bench')
      .description('benchmarks')
      .addCommand(benchClusterCommand())
      .addCommand(benchKernelCommand())
      .addCommand(benchPipelineCommand())
      .addCommand(benchTransportCommand()),
  );
  return program;
}
