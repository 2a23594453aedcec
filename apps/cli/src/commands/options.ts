import { runOptionTable } from '@cnsn/protocol';
import { Command } from 'commander';

/** `cnsn options`: every run option with its names (API, CLI, Python), default and meaning. */
export function optionsCommand(): Command {
  return new Command('options')
    .description(
      "every run option: its openRun, command-line and Python names, default and meaning (the README's table)",
    )
    .action(() => {
      process.stdout.write(`${runOptionTable()}\n`);
    });
}
