import { spawnSync } from 'node:child_process';

/** An `ip` or `tc` command that failed: the command line and what it said. */
export class NetCommandError extends Error {
  override readonly name = 'NetCommandError';
  constructor(
    readonly command: string,
    readonly output: string,
  ) {
    super(`${command}: ${output.trim() || 'failed'}`);
  }
}

/** Runs `ip`/`tc` (iproute2) synchronously; throws NetCommandError naming the command when it fails. */
export function net(cmd: 'ip' | 'tc', args: readonly string[]): string {
  const done = spawnSync(cmd, args, { encoding: 'utf8' });
  if (done.error) throw new NetCommandError(`${cmd} ${args.join(' ')}`, done.error.message);
  if (done.status !== 0) throw new NetCommandError(`${cmd} ${args.join(' ')}`, done.stderr || done.stdout);
  return done.stdout;
}

/** The same, where failure is expected and harmless (cleanup of what may be gone already). */
export function netQuiet(cmd: 'ip' | 'tc', args: readonly string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/**
 * Why network namespaces cannot be used here, or null when they can: a namespace is made and removed
 * to find out (root, iproute2 and a kernel that permits it).
 */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return 'network namespaces are Linux only';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `cn-probe-${process.pid}`;
  try {
    net('ip', ['netns', 'add', probe]);
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message}`;
  }
  netQuiet('ip', ['netns', 'del', probe]);
  return null;
}
