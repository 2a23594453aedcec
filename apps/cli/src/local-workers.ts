import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listWorkers, type Pipeline } from '@cnsn/pipeline';

/**
 * The worker app's entry, through the package's own `imports` map (package.json `#cnsn/worker`):
 * the TypeScript source in a checkout (run through tsx), a bundled .mjs in the GPU check's bundle.
 */
const WORKER_ENTRY = fileURLToPath(import.meta.resolve('#cnsn/worker'));
// tsx by its resolved location, not its name: a driver may run from any directory (the Python
// client's gateway runs in the trainer's), where `--import tsx` would not resolve.
const ENTRY_ARGS = WORKER_ENTRY.endsWith('.ts')
  ? ['--import', import.meta.resolve('tsx'), WORKER_ENTRY]
  : [WORKER_ENTRY];

/** The command line that starts a worker process (node, its loader where needed, the entry). */
export function workerCommand(): string[] {
  return [process.execPath, ...ENTRY_ARGS];
}

export interface LocalWorkerOptions {
  count: number;
  redisUrl: string;
  backend: string;
  prefix: string;
  queue: string;
  /** Tag of the worker ids, e.g. the run id. */
  tag: string;
}

/** Worker processes on this machine, as `npm run worker` would start them; their warnings go to stderr. */
export class LocalWorkers {
  private readonly children: ChildProcess[] = [];
  readonly ids: string[] = [];

  static start(options: LocalWorkerOptions): LocalWorkers {
    const workers = new LocalWorkers();
    for (let i = 0; i < options.count; i++) {
      const id = `local-${options.tag}-${i}`;
      const child = spawn(
        process.execPath,
        [
          ...ENTRY_ARGS,
          '--redis',
          options.redisUrl,
          '--backend',
          options.backend,
          '--prefix',
          options.prefix,
          '--queue',
          options.queue,
          '--id',
          id,
          '--log-level',
          'warn',
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      workers.children.push(child);
      workers.ids.push(id);
    }
    return workers;
  }

  /** Process ids of the workers (for CPU accounting). */
  get pids(): number[] {
    return this.children.map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
  }

  /** Waits until every local worker has sent a heartbeat (its backend is loaded), so timing starts warm. */
  async ready(pipeline: Pipeline, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const live = new Set((await listWorkers(pipeline.redis, pipeline.keys)).map((w) => w.id));
      if (this.ids.every((id) => live.has(id))) return;
      const dead = this.children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`a local worker exited with status ${dead.exitCode} before it was ready`);
      if (Date.now() > deadline) throw new Error(`local workers not ready within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGTERM, and wait for each to finish what it holds and exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
  }
}
