import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from '@cnsn/infra';
import { REPO_ROOT } from './paths.js';

/** A real `npm run dashboard` process on a free loopback port. */
export class DashboardProcess {
  log = '';
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  static async start(o: {
    redisUrl: string;
    prefix: string;
    queue: string;
    token?: string;
    readOnly?: boolean;
  }): Promise<DashboardProcess> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (o.token) env.CNSN_DASHBOARD_TOKEN = o.token;
    else delete env.CNSN_DASHBOARD_TOKEN;
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'apps/dashboard/src/main.ts',
        '--redis',
        o.redisUrl,
        '--prefix',
        o.prefix,
        '--queue',
        o.queue,
        '--port',
        String(port),
        ...(o.readOnly ? ['--read-only'] : []),
      ],
      { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const d = new DashboardProcess(`http://127.0.0.1:${port}`, child);
    const deadline = Date.now() + 60_000;
    while (!d.log.includes('dashboard on')) {
      if (child.exitCode !== null) throw new Error(`dashboard exited: ${d.log}`);
      if (Date.now() > deadline) throw new Error(`dashboard did not start: ${d.log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return d;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    setTimeout(() => this.child.kill('SIGKILL'), 5000).unref();
    await done;
  }
}
