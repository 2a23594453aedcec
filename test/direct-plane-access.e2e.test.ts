import { readFile, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type Shape4 } from '@cnsn/kernels';
import type { PipelineRun } from '@cnsn/pipeline';
import { encodeTensorBlob, Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCertificates, PipelineEnv, testBatch } from './support/index.js';

// Every route of the direct plane's endpoint needs its run's secret, not only GET: a PUT could
// otherwise plant a forged result for a batch in flight and a HEAD probe which results arrived.
// Each case sends a request that would succeed with the right secret (the last test shows it does).

const SHAPE: Shape4 = [2, 4, 5, 5];

interface Target {
  port: number;
  ca: Buffer | null;
}

/** One raw HTTP/1.1 exchange on a fresh connection (TLS when a CA is given): the whole answer. */
function raw(t: Target, request: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = t.ca
      ? connectTls({ port: t.port, host: '127.0.0.1', ca: t.ca, servername: 'localhost' })
      : connectTcp({ port: t.port, host: '127.0.0.1' });
    let answer = '';
    socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    // The server may close before it reads a refused body: the answer came first.
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(answer));
    socket.once(t.ca ? 'secureConnect' : 'connect', () => socket.write(request));
  });
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

function request(method: 'PUT' | 'HEAD', path: string, auth: string | null, body?: Buffer): Buffer {
  const head =
    `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n` +
    (auth === null ? '' : `authorization: ${auth}\r\n`) +
    (body ? `content-length: ${body.length}\r\n` : '') +
    'connection: close\r\n\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body ?? Buffer.alloc(0)]);
}

describe.each(['http', 'https'] as const)(
  'the direct plane endpoint refuses PUT and HEAD without the run’s own secret (%s)',
  (scheme) => {
    let env: PipelineEnv;
    let certDir: string | null = null;
    let target: Target;
    let runs: PipelineRun[];
    const secrets: string[] = [];
    // A well-formed result of the batch's shape: what a forger would PUT.
    const forged = encodeTensorBlob({ shape: [...SHAPE], data: new Float32Array(2 * 4 * 25).fill(7) });

    beforeAll(async () => {
      let tls: { certFile: string; keyFile: string } | undefined;
      let ca: Buffer | null = null;
      if (scheme === 'https') {
        const certs = await makeTestCertificates();
        certDir = certs.dir;
        tls = { certFile: certs.cert, keyFile: certs.key };
        ca = await readFile(certs.ca);
      }
      env = await PipelineEnv.start({ plane: 'direct' });
      const pipeline = await env.pipeline({ direct: { listen: '127.0.0.1:0', ...(tls ? { tls } : {}) } });
      // Two runs on one endpoint, each with batch 0 in flight (no workers: it stays so).
      runs = [await pipeline.openRun({ seed: 1 }), await pipeline.openRun({ seed: 2 })];
      const redis = new Redis(env.redis.url);
      let endpoint = '';
      for (const [i, run] of runs.entries()) {
        const b = testBatch(SHAPE, 10 + i);
        await run.enqueue(b.data, b.shape);
        const h = await redis.hgetall(new Keyspace(env.prefix).run(run.id));
        secrets.push(h.secret as string);
        endpoint = h.endpoint as string;
      }
      redis.disconnect();
      expect(endpoint).toMatch(new RegExp(`^${scheme}://127\\.0\\.0\\.1:\\d+$`));
      target = { port: Number(new URL(endpoint).port), ca };
    });
    afterAll(async () => {
      for (const run of runs ?? []) await run.close();
      await env?.dispose();
      if (certDir) await rm(certDir, { recursive: true, force: true });
    });

    const result = (run: string, seq = 0) => `/v1/runs/${run}/batches/${seq}/result`;
    const head = async (path: string, auth: string | null) =>
      statusOf(await raw(target, request('HEAD', path, auth)));

    it.each([
      ['no authorization header', () => null],
      ['a wrong secret of the same length', () => `Bearer ${flip(secrets[0] ?? '')}`],
      ['a wrong secret one character short', () => `Bearer ${(secrets[0] ?? '').slice(1)}`],
      ['a wrong secret one character long', () => `Bearer ${secrets[0] ?? ''}0`],
      ['an empty bearer', () => 'Bearer '],
      ['the secret without its scheme', () => secrets[0] ?? ''],
      ['another run’s secret', () => `Bearer ${secrets[1] ?? ''}`],
    ])('with %s: PUT and HEAD get 401 and nothing is stored', async (_, auth) => {
      const path = result(runs[0]?.id ?? '');
      const put = await raw(target, request('PUT', path, auth(), forged));
      expect(statusOf(put), put).toBe(401);
      expect(put.endsWith('unauthorized')).toBe(true);
      expect(await head(path, auth())).toBe(401);
      // Nothing arrived: the run's own secret sees no result.
      expect(await head(path, `Bearer ${secrets[0]}`)).toBe(404);
    });

    it('a run’s secret opens no other run, and an unknown run gets the same answer', async () => {
      const [a, b] = runs;
      const put = await raw(target, request('PUT', result(b?.id ?? ''), `Bearer ${secrets[0]}`, forged));
      expect(statusOf(put)).toBe(401);
      expect(await head(result(b?.id ?? ''), `Bearer ${secrets[0]}`)).toBe(401);
      const unknown = await raw(
        target,
        request('PUT', result('someone-else'), `Bearer ${secrets[0]}`, forged),
      );
      expect(statusOf(unknown)).toBe(401);
      expect(await head(result('someone-else'), `Bearer ${secrets[0]}`)).toBe(401);
      expect(await head(result(b?.id ?? ''), `Bearer ${secrets[1]}`)).toBe(404);
      expect(await head(result(a?.id ?? ''), `Bearer ${secrets[0]}`)).toBe(404);
    });

    it('with the run’s own secret the same PUT is taken and HEAD sees it (the refusals above were the secret’s)', async () => {
      const path = result(runs[0]?.id ?? '');
      const put = await raw(target, request('PUT', path, `Bearer ${secrets[0]}`, forged));
      expect(statusOf(put), put).toBe(204);
      expect(await head(path, `Bearer ${secrets[0]}`)).toBe(200);
      // And still not to anyone else.
      expect(await head(path, null)).toBe(401);
      expect(await head(path, `Bearer ${secrets[1]}`)).toBe(401);
    });
  },
);

/** The same length, one character different. */
function flip(secret: string): string {
  const last = secret.slice(-1);
  return secret.slice(0, -1) + (last === 'a' ? 'b' : 'a');
}
