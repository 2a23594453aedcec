import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NetCluster, netnsUnavailable, sweepStale } from '@cnsn/infra';
import { afterEach, describe, expect, it } from 'vitest';
import { waitUntil } from './support/index.js';

const run = promisify(execFile);

// Network namespaces need root; CI sets CNSN_REQUIRE_NETNS=1 to turn the skip into a failure.
const unavailable = netnsUnavailable();
if (unavailable && process.env.CNSN_REQUIRE_NETNS === '1')
  throw new Error(`CNSN_REQUIRE_NETNS=1 but ${unavailable}`);
if (unavailable) console.warn(`net-cluster tests skipped: ${unavailable}`);

async function namespaces(): Promise<string[]> {
  return (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter(Boolean);
}

/** Whether a TCP connection from `from` to `to`:`port` opens within `seconds` (before SYN retries). */
async function connects(
  c: NetCluster,
  from: string,
  to: string,
  port: number,
  seconds = 1,
): Promise<boolean> {
  const script = `timeout ${seconds} bash -c 'echo > /dev/tcp/${c.host(to).address}/${port}'`;
  return c.exec(from, 'bash', ['-c', script]).then(
    () => true,
    () => false,
  );
}

/** iperf3 from `from` to an iperf3 server on `to`: the receiver's Mbit/s. */
async function iperf(c: NetCluster, from: string, to: string, reverse = false): Promise<number> {
  const args = ['-c', c.host(to).address, '-t', '2', '-J'];
  const stdout = await c.exec(from, 'iperf3', reverse ? [...args, '-R'] : args);
  return (
    (JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
      .bits_per_second / 1e6
  );
}

describe.skipIf(unavailable !== null)('a cluster of hosts in network namespaces', () => {
  let cluster: NetCluster | null = null;
  afterEach(() => cluster?.dispose());

  it('shapes each link to its rate, both ways, and counts its bytes', async () => {
    const c = (cluster = NetCluster.create([{ name: 'a', rateMbit: 200 }, { name: 'b' }]));
    c.spawn('b', 'iperf3', ['-s', '-B', c.host('b').address], { stdio: 'ignore' });
    await waitUntil(() => connects(c, 'a', 'b', 5201), 5000, 'the iperf3 server');
    const before = c.linkBytes('a');
    const up = await iperf(c, 'a', 'b');
    const down = await iperf(c, 'a', 'b', true);
    expect(up).toBeGreaterThan(160);
    expect(up).toBeLessThan(210);
    expect(down).toBeGreaterThan(160);
    expect(down).toBeLessThan(210);
    const after = c.linkBytes('a');
    // 2 s at ~200 Mbit/s each way: about 50 MB out, and 50 MB in.
    expect(after.tx - before.tx).toBeGreaterThan(35e6);
    expect(after.rx - before.rx).toBeGreaterThan(35e6);
  });

  it('cuts a host off both ways or one way, and restores it', async () => {
    const c = (cluster = NetCluster.create([{ name: 'a' }, { name: 'b' }]));
    c.spawn('b', 'iperf3', ['-s', '-B', c.host('b').address], { stdio: 'ignore' });
    await waitUntil(() => connects(c, 'a', 'b', 5201), 5000, 'the iperf3 server');
    c.cut('b');
    expect(await connects(c, 'a', 'b', 5201)).toBe(false);
    c.restore('b');
    expect(await connects(c, 'a', 'b', 5201)).toBe(true);
    c.cut('b', 'to'); // b sends, receives nothing: a's SYN never arrives
    expect(await connects(c, 'a', 'b', 5201)).toBe(false);
    c.restore('b');
    c.cut('a', 'from');
    expect(await connects(c, 'a', 'b', 5201)).toBe(false);
    c.restore('a');
    expect(await connects(c, 'a', 'b', 5201)).toBe(true);
  });

  it('drops a share of the packets on a lossy link, and says a delay needs netem where the kernel lacks it', async () => {
    const c = (cluster = NetCluster.create([{ name: 'a', lossPct: 20 }, { name: 'b' }]));
    c.spawn('b', 'iperf3', ['-s', '-B', c.host('b').address], { stdio: 'ignore' });
    c.shape('a', {}); // the server's start is checked on a clean link, then the loss comes back
    await waitUntil(() => connects(c, 'a', 'b', 5201), 5000, 'the iperf3 server');
    c.shape('a', { lossPct: 20 });
    // Each of 20 attempts needs its SYN and SYN-ACK through (0.8 x 0.8 = 0.64, about 13 of 20).
    let opened = 0;
    for (let i = 0; i < 20; i++) if (await connects(c, 'a', 'b', 5201, 0.5)) opened++;
    expect(opened).toBeGreaterThan(4);
    expect(opened).toBeLessThan(20);
    try {
      c.shape('a', { delayMs: 10 });
    } catch (err) {
      expect((err as Error).message).toMatch(/a link delay needs tc's netem, which this kernel lacks/);
    }
  });

  it('removes every namespace it made, and what a killed process left', async () => {
    const c = NetCluster.create([{ name: 'a' }, { name: 'b' }]);
    const mine = [c.host('a').ns, c.host('b').ns];
    expect(await namespaces()).toEqual(expect.arrayContaining(mine));
    c.dispose();
    for (const ns of mine) expect(await namespaces()).not.toContain(ns);
    // A namespace of a process that is gone (pid 2^22 + 1 is above Linux's pid limit).
    const stale = `cn-${2 ** 22 + 1}-0-x`;
    await run('ip', ['netns', 'add', stale]);
    expect(sweepStale()).toContain(stale);
    expect(await namespaces()).not.toContain(stale);
  });
});
