import { spawn } from 'node:child_process';
import { REPO_ROOT } from './paths.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The last non-empty stdout line parsed as JSON (docs/cli.md: machine-readable output). */
  json: unknown;
}

/** Runs an app entry point (e.g. `apps/cli/src/main.ts`) the way `npm run` does: node with the tsx loader. */
export function runApp(
  entry: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; netns?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const node = [process.execPath, '--import', 'tsx', entry, ...args];
    // Inside a network namespace (a host of a NetCluster) when asked.
    const [cmd, ...argv] = options.netns ? ['ip', 'netns', 'exec', options.netns, ...node] : node;
    const child = spawn(cmd as string, argv, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').filter(Boolean).pop() ?? '';
      let json: unknown = null;
      try {
        json = JSON.parse(last);
      } catch {
        json = null;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

/** `npm run cnsn -- ARGS`, without npm's own start-up. */
export function runCnsn(
  args: string[],
  options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; netns?: string },
): Promise<CliResult> {
  return runApp('apps/cli/src/main.ts', args, options);
}
