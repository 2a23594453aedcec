import { CommanderError } from 'commander';

/** A usage or input error of a command: printed as `cnsn: error: ...` with exit status 2, no stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;
  constructor(message: string, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
  }
}

/**
 * Prints what ended a command and returns its exit status. Every error is one line, what went
 * wrong and (in its message) what to do; the stack only when asked (--verbose, DEBUG). A usage
 * error exits 2, anything else 1.
 */
export function reportError(
  err: unknown,
  verbose: boolean,
  write = (s: string) => process.stderr.write(s),
): number {
  if (err instanceof CommanderError) return err.exitCode; // commander printed it already
  const e = err instanceof Error ? err : new Error(String(err));
  const firstLine = (e.message.split('\n')[0] ?? '').trim() || e.name;
  write(`cnsn: error: ${firstLine}\n`);
  if (verbose && !(e instanceof CliError) && e.stack) write(`${e.stack}\n`);
  return e instanceof CliError ? e.exitCode : 1;
}
