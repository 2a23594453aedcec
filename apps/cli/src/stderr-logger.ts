import type { Logger } from '@cnsn/pipeline';

/**
 * The CLI's own notices (a Redis not reachable yet, a run resumed afresh): warnings and errors as
 * one line each on stderr, `cnsn: message`; info and debug only with --verbose.
 */
export function stderrLogger(verbose = false): Logger {
  const line = (message: string): void => {
    process.stderr.write(`cnsn: ${message}\n`);
  };
  return {
    debug: (_f, m) => (verbose ? line(m) : undefined),
    info: (_f, m) => (verbose ? line(m) : undefined),
    warn: (_f, m) => line(m),
    error: (_f, m) => line(m),
  };
}

/** `--verbose` anywhere on the command line, or DEBUG set: stacks and debug notices. */
export function isVerbose(): boolean {
  return process.argv.includes('--verbose') || Boolean(process.env.DEBUG);
}
