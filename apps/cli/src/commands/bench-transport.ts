import { createServer, request as httpRequest, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Http1Client, Http1Server } from '@cnsn/pipeline';
import { Command } from 'commander';
import { Pool } from 'undici';
import { parsePositiveInt } from '../parse-options.js';

interface Row {
  transport: string;
  op: 'GET' | 'PUT';
  wallMs: number;
  cpuMs: number;
}

/**
 * `cnsn bench transport`: a batch-sized body moved by GET and by PUT over loopback through each
 * HTTP/1.1 stack the direct plane could use: node:http's server with undici's and node:http's
 * clients, and the pipeline's own client and server (bodies read straight into their buffers).
 * Client and server share this process: CPU is that of the whole exchange.
 */
export function benchTransportCommand(): Command {
  return new Command('transport')
    .description(
      'GET and PUT of a batch-sized body through node:http, undici and the direct plane HTTP/1.1 pieces',
    )
    .option('--bytes <n>', 'body size (default 64x512x7x7 float32)', parsePositiveInt, 64 * 512 * 49 * 4)
    .option('--iters <n>', 'exchanges timed per row (median wall, mean CPU)', parsePositiveInt, 40)
    .action(async (flags: { bytes: number; iters: number }) => {
      const bench: Bench = {
        body: Buffer.alloc(flags.bytes, 7),
        sink: Buffer.alloc(flags.bytes),
        rows: [],
        iters: flags.iters,
      };
      await benchNodeHttp(bench);
      await benchHttp1(bench);
      const mb = flags.bytes / 1e6;
      for (const r of bench.rows)
        process.stderr.write(
          `${r.op} ${mb.toFixed(1)} MB  ${r.transport.padEnd(34)} wall ${r.wallMs.toFixed(2).padStart(7)} ms (${(flags.bytes / r.wallMs / 1e6).toFixed(2)} GB/s)  CPU ${r.cpuMs.toFixed(2).padStart(6)} ms\n`,
        );
      process.stdout.write(`${JSON.stringify({ bytes: flags.bytes, rows: bench.rows })}\n`);
    });
}

/** The body, where received bodies go, the rows so far, and how many exchanges a row times. */
interface Bench {
  body: Buffer;
  sink: Buffer;
  rows: Row[];
  iters: number;
}

/** Times `f` (after 3 untimed): the median wall and the mean CPU of `iters` exchanges. */
async function time(
  bench: Bench,
  transport: string,
  op: Row['op'],
  f: () => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < 3; i++) await f();
  const walls: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < bench.iters; i++) {
    const t0 = performance.now();
    await f();
    walls.push(performance.now() - t0);
  }
  const c = process.cpuUsage(c0);
  walls.sort((a, b) => a - b);
  bench.rows.push({
    transport,
    op,
    wallMs: round(walls[walls.length >> 1] ?? 0),
    cpuMs: round((c.user + c.system) / 1000 / bench.iters),
  });
}

/** node:http's server (GET answers the body; PUT copies chunk by chunk) with undici's and its own client. */
async function benchNodeHttp(bench: Bench): Promise<void> {
  const { body, sink } = bench;
  const node = createServer((req, res) => {
    if (req.method === 'GET') return void res.writeHead(200, { 'content-length': body.length }).end(body);
    let at = 0;
    req.on('data', (c: Buffer) => {
      c.copy(sink, at);
      at += c.length;
    });
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', () => r()));
  const port = (node.address() as AddressInfo).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
  await time(bench, 'node:http server, undici client', 'GET', async () => {
    const { body: b } = await pool.request({ path: '/', method: 'GET' });
    let at = 0;
    for await (const c of b as AsyncIterable<Buffer>) {
      c.copy(sink, at);
      at += c.length;
    }
  });
  await time(bench, 'node:http server, undici client', 'PUT', async () => {
    const { body: b } = await pool.request({ path: '/', method: 'PUT', body });
    await b.dump();
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  await time(bench, 'node:http server and client', 'GET', () => nodeGet(port, agent, sink));
  await time(bench, 'node:http server and client', 'PUT', () => nodePut(port, agent, body));
  await pool.close();
  agent.destroy();
  await new Promise<void>((r) => node.close(() => r()));
}

function nodeGet(port: number, agent: Agent, sink: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let at = 0;
      res.on('data', (c: Buffer) => {
        c.copy(sink, at);
        at += c.length;
      });
      res.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
}

function nodePut(port: number, agent: Agent, body: Buffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        method: 'PUT',
        agent,
        headers: { 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The direct plane's own pieces: bodies land straight in their buffers. */
async function benchHttp1(bench: Bench): Promise<void> {
  const { body, sink } = bench;
  const server = new Http1Server({
    stallTimeoutMs: 30_000,
    route: (head) =>
      head.method === 'GET'
        ? { answer: { status: 200, body: [body] } }
        : { receive: { into: sink, complete: () => ({ status: 204 }), abandon: () => undefined } },
  });
  const port = await server.listen(0, '127.0.0.1');
  const client = new Http1Client('127.0.0.1', port, 30_000);
  await time(bench, 'cnsn Http1Server and Http1Client', 'GET', () =>
    client.request({ method: 'GET', path: '/', headers: {}, into: () => sink }),
  );
  await time(bench, 'cnsn Http1Server and Http1Client', 'PUT', () =>
    client.request({ method: 'PUT', path: '/', headers: {}, body: [body] }),
  );
  client.close();
  await server.close();
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
