import { spawn } from 'node:child_process';
import { freePort } from '@cnsn/infra';

/** A tool's measurement of a transport: GB/s, with what it measured and how. */
export interface TransportLimit {
  tool: 'iperf3' | 'redis-benchmark';
  gbPerSec: number;
  detail: string;
}

function run(
  cmd: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, out, err: e.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/**
 * One TCP stream's limit to `host`, by iperf3 (a server on a free port there, 2 s of client).
 * Null when iperf3 is not installed (apt-get install iperf3) or cannot run.
 */
export async function iperf3Limit(host = '127.0.0.1'): Promise<TransportLimit | null> {
  const port = await freePort();
  const server = spawn('iperf3', ['-s', '-1', '-B', host, '-p', String(port)], { stdio: 'ignore' });
  const failed = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(true));
    setTimeout(() => resolve(false), 300);
  });
  if (failed) return null;
  try {
    const r = await run('iperf3', ['-c', host, '-p', String(port), '-t', '2', '-J'], 20_000);
    if (r.code !== 0) return null;
    const bps = (JSON.parse(r.out) as { end?: { sum_received?: { bits_per_second?: number } } }).end
      ?.sum_received?.bits_per_second;
    if (!bps) return null;
    return { tool: 'iperf3', gbPerSec: bps / 8e9, detail: `iperf3, one TCP stream to ${host}, 2 s` };
  } finally {
    server.kill();
  }
}

/**
 * SET and GET of batch-sized values by redis-benchmark on the run's Redis; the limit of a
 * redis-plane pipeline is one batch through four crossings: bytes / (2 SET + 2 GET).
 */
export async function redisBenchmarkLimit(redisUrl: string, bytes: number): Promise<TransportLimit | null> {
  // About 2 GB each way, so the clock has something to measure (a few small requests read 'inf').
  const requests = Math.min(20_000, Math.max(5, Math.ceil(2e9 / bytes)));
  const url = new URL(redisUrl);
  if (url.protocol !== 'redis:') return null;
  const args = [
    '-h',
    url.hostname,
    '-p',
    url.port || '6379',
    '-t',
    'set,get',
    '-d',
    String(bytes),
    '-n',
    String(requests),
    '-c',
    '1',
    '--csv',
  ];
  if (url.password) args.push('-a', decodeURIComponent(url.password), '--no-auth-warning');
  if (url.username) args.push('--user', decodeURIComponent(url.username));
  const r = await run('redis-benchmark', args, 120_000);
  if (r.code !== 0) return null;
  const rps = (name: string): number => {
    const line = r.out.split('\n').find((l) => l.startsWith(`"${name}"`));
    return Number(line?.split(',')[1]?.replace(/"/g, ''));
  };
  const set = rps('SET');
  const get = rps('GET');
  if (!(set > 0 && get > 0 && Number.isFinite(set) && Number.isFinite(get))) return null;
  const seconds = 2 / set + 2 / get;
  return {
    tool: 'redis-benchmark',
    gbPerSec: bytes / seconds / 1e9,
    detail: `redis-benchmark, ${(bytes / 1e6).toFixed(1)} MB values: SET ${((set * bytes) / 1e9).toFixed(2)} GB/s, GET ${((get * bytes) / 1e9).toFixed(2)} GB/s; four crossings a batch`,
  };
}
