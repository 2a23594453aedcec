import { fileURLToPath } from 'node:url';
import { type ChildProcess, spawn } from 'node:child_process';
import { REPO_ROOT } from './paths.js';

export interface WorkerProcessOptions {
  url: string;
  prefix: string;
  queue: string;
  backend?: string;
  concurrency?: number;
  id: string;
  /** Extra environment, e.g. CNSN_FAULT_DELAY_MS. */
  env?: NodeJS.ProcessEnv;
}

/** A real `npm run worker` process (node with the tsx loader), its log kept for assertions. */
export class WorkerProcess {
  log = '';
  readonly exited: Promise<number | null>;
  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
    // 'close' comes after the child's stderr is drained: the log is whole when this resolves.
    this.exited = new Promise((resolve) => child.once('close', (code) => resolve(code)));
  }

  static start(o: WorkerProcessOptions): WorkerProcess {
    // Held batches (CNSN_FAULT_DELAY_MS) come from the test-support entry; the product's has no hook.
    const faults = Number(o.env?.CNSN_FAULT_DELAY_MS ?? 0) > 0;
    const entry = faults
      ? fileURLToPath(new URL('./fault-worker.ts', import.meta.url))
      : fileURLToPath(import.meta.resolve('#cnsn/worker'));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        entry,
        '--redis',
        o.url,
        '--prefix',
        o.prefix,
        '--queue',
        o.queue,
        '--backend',
        o.backend ?? 'fused',
        // The worker's own default when not given (1; 2 on webgpu).
        ...(o.concurrency ? ['--concurrency', String(o.concurrency)] : []),
        '--id',
        o.id,
        // For post-mortems (the soak's SOAK_LOG): e.g. debug.
        ...(process.env.CNSN_TEST_WORKER_LOG_LEVEL
          ? ['--log-level', process.env.CNSN_TEST_WORKER_LOG_LEVEL]
          : []),
      ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } },
    );
    return new WorkerProcess(o.id, child);
  }

  /** SIGTERM and wait for the exit status. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  kill(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Starts `count` workers and resolves once each has sent a heartbeat. */
export async function startWorkers(
  count: number,
  base: Omit<WorkerProcessOptions, 'id'>,
  isLive: (ids: string[]) => Promise<boolean>,
  tag = 'w',
): Promise<WorkerProcess[]> {
  const workers = Array.from({ length: count }, (_, i) =>
    WorkerProcess.start({ ...base, id: `${tag}${i}-${process.pid}` }),
  );
  const deadline = Date.now() + 60_000;
  while (!(await isLive(workers.map((w) => w.id)))) {
    const dead = workers.find((w) => w.child.exitCode !== null);
    if (dead) throw new Error(`worker ${dead.id} exited early: ${dead.log}`);
    if (Date.now() > deadline)
      throw new Error(`workers not live within 60 s: ${workers.map((w) => w.log).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return workers;
}
