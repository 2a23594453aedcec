import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { type Shape4 } from '@cnsn/kernels';
import type { Pipeline, PipelineRun } from '@cnsn/pipeline';
import { decodeTensorBlob, encodeTensorBlob, Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestOf,
  expectedDigest,
  makeTestCertificates,
  PipelineEnv,
  testBatch,
  which,
} from './support/index.js';

const SHAPE: Shape4 = [4, 8, 7, 7];
const crossnorm = { crop: 'both', chan: true } as const;

/** One raw HTTP/1.1 exchange on a fresh connection: what the server answered (status line on). */
function raw(
  port: number,
  request: Buffer | string,
  options: { closeAfterMs?: number } = {},
): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.on('connect', () => {
      socket.write(request);
      if (options.closeAfterMs !== undefined) setTimeout(() => socket.destroy(), options.closeAfterMs);
    });
  });
}

const status = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

describe.each([true, false])('the direct plane endpoint (bodies read in place: %s)', (readInPlace) => {
  let env: PipelineEnv;
  let pipeline: Pipeline;
  let run: PipelineRun;
  let port: number;
  let secret: string;
  const batches = [testBatch(SHAPE, 1), testBatch(SHAPE, 2)];

  beforeAll(async () => {
    env = await PipelineEnv.start({ plane: 'direct' });
    pipeline = await env.pipeline({ direct: { stallTimeoutMs: 400, readInPlace } });
    run = await pipeline.openRun({ seed: 3, crossnorm, onError: 'skip', maxInFlight: 4 });
    for (const b of batches) await run.enqueue(b.data, b.shape);
    await run.end();
    const redis = new Redis(env.redis.url);
    const h = await redis.hgetall(new Keyspace(env.prefix).run(run.id));
    redis.disconnect();
    port = Number(new URL(h.endpoint as string).port);
    secret = h.secret as string;
  });
  afterAll(() => env.dispose());

  const get = (path: string, auth?: string) =>
    raw(
      port,
      `GET ${path} HTTP/1.1\r\nhost: x\r\n${auth ? `authorization: Bearer ${auth}\r\n` : ''}connection: close\r\n\r\n`,
    );
  const put = (path: string, body: Buffer, headers = '') =>
    raw(
      port,
      Buffer.concat([
        Buffer.from(
          `PUT ${path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\ncontent-length: ${body.length}\r\n${headers}connection: close\r\n\r\n`,
        ),
        body,
      ]),
    );
  const input = (seq: number) => `/v1/runs/${run.id}/batches/${seq}/input`;
  const result = (seq: number) => `/v1/runs/${run.id}/batches/${seq}/result`;
  const hasResult = async (seq: number) =>
    status(
      await raw(
        port,
        `HEAD ${result(seq)} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\nconnection: close\r\n\r\n`,
      ),
    );

  it("serves a batch's input to its run's secret, bitwise", async () => {
    const answer = await get(input(1), secret);
    expect(status(answer)).toBe(200);
    const body = Buffer.from(answer.slice(answer.indexOf('\r\n\r\n') + 4), 'latin1');
    expect(Array.from(decodeTensorBlob(body, 'served').data)).toEqual(Array.from(batches[1]?.data ?? []));
  });

  it('refuses a missing or wrong secret, and says nothing about other runs', async () => {
    const missing = await get(input(0));
    const wrong = await get(input(0), 'x'.repeat(secret.length));
    const otherRun = await get(`/v1/runs/someone-else/batches/0/input`, secret);
    for (const a of [missing, wrong, otherRun]) {
      expect(status(a)).toBe(401);
      expect(a.endsWith('unauthorized')).toBe(true);
    }
  });

  it('refuses a result for a batch not in flight, and an input it does not hold', async () => {
    expect(status(await get(input(99), secret))).toBe(404);
    const blob = encodeTensorBlob({ shape: [...SHAPE], data: new Float32Array(4 * 8 * 49) });
    expect(status(await put(result(99), blob))).toBe(409);
  });

  it('refuses an oversize body before reading it, and a result of the wrong shape', async () => {
    // Larger than a batch of this shape can be, header allowance included: never read.
    const huge = Buffer.alloc(4 * 8 * 49 * 4 + 256 * 1024);
    expect(status(await put(result(0), huge))).toBe(413);
    const wrongShape = encodeTensorBlob({ shape: [4, 8, 49, 1], data: new Float32Array(4 * 8 * 49) });
    const a = await put(result(0), wrongShape);
    expect(status(a)).toBe(422);
    expect(a).toMatch(/shape \[4, 8, 49, 1\] is not the batch's \[4, 8, 7, 7\]/);
    expect(await hasResult(0)).toBe(404);
  });

  it('keeps nothing of a body cut short or stalled mid-way', async () => {
    const blob = encodeTensorBlob({ shape: [...SHAPE], data: new Float32Array(4 * 8 * 49) });
    const head = `PUT ${result(0)} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\ncontent-length: ${blob.length}\r\n\r\n`;
    // Cut short: the client goes away with half the body sent.
    await raw(port, Buffer.concat([Buffer.from(head), blob.subarray(0, blob.length >> 1)]), {
      closeAfterMs: 100,
    });
    expect(await hasResult(0)).toBe(404);
    // Stalled: half the body, then nothing; the server gives up after its stall timeout (400 ms here).
    const t0 = Date.now();
    const stalled = await raw(port, Buffer.concat([Buffer.from(head), blob.subarray(0, 100)]));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(status(stalled)).toBe(408);
    expect(await hasResult(0)).toBe(404);
  });

  it('after all that, workers complete the run as if nothing happened', async () => {
    await env.startWorkers(1);
    const out: Float32Array[] = [];
    for await (const r of run.results()) out.push(r.data.slice());
    expect(digestOf(out)).toBe(await expectedDigest(batches, 3, crossnorm, null));
    await run.close();
  });
});

describe('the direct plane over TLS', () => {
  let certs: Awaited<ReturnType<typeof makeTestCertificates>>;
  beforeAll(async () => {
    certs = await makeTestCertificates();
  });
  afterAll(() => rm(certs.dir, { recursive: true, force: true }));

  it('serves https with a certificate; workers that trust its CA complete the run', async () => {
    const env = await PipelineEnv.start({ plane: 'direct' });
    try {
      await env.startWorkers(2, { env: { CNSN_REDIS_CA: certs.ca } });
      const pipeline = await env.pipeline({
        direct: { listen: '127.0.0.1:0', tls: { certFile: certs.cert, keyFile: certs.key } },
      });
      const run = await pipeline.openRun({ seed: 4, crossnorm });
      expect(run.planeChoice).toMatch(/^direct/);
      const redis = new Redis(env.redis.url);
      expect(await redis.hget(new Keyspace(env.prefix).run(run.id), 'endpoint')).toMatch(
        /^https:\/\/127\.0\.0\.1:\d+$/,
      );
      redis.disconnect();
      const batches = Array.from({ length: 6 }, (_, i) => testBatch(SHAPE, 50 + i));
      const producing = (async () => {
        for (const b of batches) await run.enqueue(b.data, b.shape);
        await run.end();
      })();
      const out: Float32Array[] = [];
      for await (const r of run.results()) out.push(r.data.slice());
      await producing;
      await run.close();
      expect(digestOf(out)).toBe(await expectedDigest(batches, 4, crossnorm, null));
    } finally {
      await env.dispose();
    }
  });
});

describe.runIf(which('curl'))('the endpoint is plain HTTP/1.1', () => {
  it('curl fetches an input with the secret, and is refused without', async () => {
    const env = await PipelineEnv.start({ plane: 'direct' });
    try {
      const pipeline = await env.pipeline();
      const run = await pipeline.openRun({ seed: 1, crossnorm });
      const b = testBatch(SHAPE, 7);
      await run.enqueue(b.data, b.shape);
      const redis = new Redis(env.redis.url);
      const h = await redis.hgetall(new Keyspace(env.prefix).run(run.id));
      redis.disconnect();
      const url = `${h.endpoint}/v1/runs/${run.id}/batches/0/input`;
      // Asynchronously: the endpoint answers from this very process.
      const curl = promisify(execFile);
      const body = (
        await curl('curl', ['-sf', '-H', `Authorization: Bearer ${h.secret}`, url], { encoding: 'buffer' })
      ).stdout;
      expect(Array.from(decodeTensorBlob(body, 'curl').data)).toEqual(Array.from(b.data));
      const refused = (await curl('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', url])).stdout;
      expect(refused).toBe('401');
      await run.close();
    } finally {
      await env.dispose();
    }
  });
});

describe('auto: direct when the workers can reach the driver, and it says which it chose', () => {
  let env: PipelineEnv;
  beforeAll(async () => {
    env = await PipelineEnv.start();
    await env.startWorkers(2);
  });
  afterAll(() => env.dispose());

  it('workers on this host: direct, on a loopback port', async () => {
    const run = await (await env.pipeline()).openRun({ seed: 1 });
    expect(run.dataPlane).toBe('direct');
    expect(run.planeChoice).toMatch(
      /^direct: auto: every live worker runs on this host; serving at http:\/\/127\.0\.0\.1:\d+$/,
    );
    await run.close();
  });

  it('an advertised address the workers reach: direct, after they said so', async () => {
    const pipeline = await env.pipeline({ direct: { listen: '127.0.0.1:0', advertise: '127.0.0.1:0' } });
    const run = await pipeline.openRun({ seed: 1 });
    expect(run.planeChoice).toMatch(/^direct: auto: all 2 live workers reach http:\/\/127\.0\.0\.1:\d+$/);
    await run.close();
  });

  it('an advertised address they cannot reach: redis, naming the workers and why', async () => {
    const pipeline = await env.pipeline({ direct: { listen: '127.0.0.1:0', advertise: '127.0.0.1:1' } });
    const run = await pipeline.openRun({ seed: 1 });
    expect(run.dataPlane).toBe('redis');
    expect(run.planeChoice).toMatch(
      /^redis: auto: worker w0-\d+-\d+ \(\S+\) cannot reach http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/,
    );
    expect(run.planeChoice).toContain('set --listen/--advertise to an address they reach');
    // And the run works on the plane it chose.
    const b = testBatch(SHAPE, 9);
    await run.enqueue(b.data, b.shape);
    await run.end();
    const out: Float32Array[] = [];
    for await (const r of run.results()) out.push(r.data.slice());
    expect(digestOf(out)).toBe(await expectedDigest([b], 1, crossnorm, null));
    await run.close();
  });
});
