#!/usr/bin/env node
// cnsn: the command line of cnsn-pipeline (docs/cli.md describes every command).
import { reportError } from './cli-error.js';
import { cnsnProgram } from './program.js';
import { isVerbose } from './stderr-logger.js';

try {
  await cnsnProgram().parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err, isVerbose());
}
