import { spawn } from 'node:child_process';
import { freePort, LocalRedis } from '@cnsn/infra';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCnsn, waitUntil } from './support/index.js';

const started: LocalRedis[] = [];
afterAll(async () => {
  await Promise.all(started.map((r) => r.dispose()));
});

const runArgs = (url: string, extra: string[] = []): string[] => [
  'run',
  '--synthetic',
  '--batches',
  '4',
  '--shape',
  '2,4,7,7',
  '--redis',
  url,
  '--workers-local',
  '1',
  '--backend',
  'fused',
  '--json',
  '--no-progress',
  ...extra,
];

describe('a driver that starts while Redis is down (restarting, not up yet)', () => {
  it('retries the refused connection with backoff, logging at most once a second, and runs once Redis is up', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...runArgs(url)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const t0 = Date.now();
    // Redis comes up once the driver has been refused (and said so), on the port it was told.
    await waitUntil(() => stderr.includes('Redis not reachable yet'), 60_000, 'a refused first connection');
    started.push(await LocalRedis.start({ port }));
    const code = await exited;
    const elapsed = (Date.now() - t0) / 1000;
    expect(code, stderr).toBe(0);
    expect(JSON.parse(stdout.trim().split('\n').pop() ?? '{}')).toMatchObject({ batches: 4, delivered: 4 });
    const notices = stderr.split('\n').filter((l) => l.includes('Redis not reachable yet'));
    expect(notices.length).toBeGreaterThanOrEqual(1);
    expect(notices.length).toBeLessThanOrEqual(Math.ceil(elapsed) + 1);
    expect(notices[0]).toMatch(/ECONNREFUSED.*retrying for up to 30 s/);
  });

  it('gives up after --connect-timeout with one line that says what and where, no stack', async () => {
    const port = await freePort();
    const r = await runCnsn(runArgs(`redis://127.0.0.1:${port}`, ['--connect-timeout', '2']));
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.pop()).toMatch(
      new RegExp(`^cnsn: error: cannot connect to redis://127\\.0\\.0\\.1:${port}/?: no answer within 2 s`),
    );
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('--verbose (or DEBUG) adds the stack', async () => {
    const port = await freePort();
    const r = await runCnsn(runArgs(`redis://127.0.0.1:${port}`, ['--connect-timeout', '1', '--verbose']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^cnsn: error: cannot connect/m);
    expect(r.stderr).toMatch(/^\s+at /m);
  });
});
