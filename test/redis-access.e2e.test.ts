import { rm } from 'node:fs/promises';
import { freePort, LocalRedis } from '@cnsn/infra';
import { type Shape4 } from '@cnsn/kernels';
import { connectRedis, Pipeline, RedisConnectionError } from '@cnsn/pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  digestOf,
  expectedDigest,
  makeTestCertificates,
  runApp,
  runCnsn,
  startWorkers,
  testBatch,
  type WorkerProcess,
} from './support/index.js';
import { listWorkers } from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';

// A redis-server with the default user off, an ACL user with a password, and a TLS port whose
// certificate is signed by a CA the test made: reached as rediss://cnsn:PASSWORD@127.0.0.1:TLSPORT.
let redis: LocalRedis;
let certs: Awaited<ReturnType<typeof makeTestCertificates>>;
let tlsUrl: string;
let plainUrl: string;
const prefix = '{acl}';
const queue = 'secure';

beforeAll(async () => {
  certs = await makeTestCertificates();
  const tlsPort = await freePort();
  redis = await LocalRedis.start({
    args: [
      '--tls-port',
      String(tlsPort),
      '--tls-cert-file',
      certs.cert,
      '--tls-key-file',
      certs.key,
      '--tls-ca-cert-file',
      certs.ca,
      '--tls-auth-clients',
      'no',
      '--user',
      'default',
      'off',
      '--user',
      'cnsn',
      'on',
      '>s3cret-pass',
      '~*',
      '&*',
      '+@all',
    ],
  });
  tlsUrl = `rediss://cnsn:s3cret-pass@127.0.0.1:${tlsPort}`;
  plainUrl = `redis://cnsn:s3cret-pass@127.0.0.1:${redis.port}`;
});
afterAll(async () => {
  await redis.dispose();
  await rm(certs.dir, { recursive: true, force: true });
});

describe('Redis with an ACL user, a password and TLS', () => {
  it('driver and workers run a whole run over rediss:// with the user and password', async () => {
    const env = { CNSN_REDIS_CA: certs.ca };
    process.env.CNSN_REDIS_CA = certs.ca;
    const pipeline = await Pipeline.connect({ redis: tlsUrl, prefix, queue });
    let workers: WorkerProcess[] = [];
    try {
      workers = await startWorkers(2, { url: tlsUrl, prefix, queue, env }, async (ids) => {
        const live = new Set((await listWorkers(pipeline.redis, new Keyspace(prefix))).map((w) => w.id));
        return ids.every((id) => live.has(id));
      });
      const shape: Shape4 = [4, 8, 7, 7];
      const batches = Array.from({ length: 6 }, (_, i) => testBatch(shape, 900 + i));
      const run = await pipeline.openRun({ seed: 8 });
      const producing = (async () => {
        for (const b of batches) await run.enqueue(b.data, b.shape);
        await run.end();
      })();
      const out: Float32Array[] = [];
      for await (const r of run.results()) out.push(r.data.slice());
      await producing;
      await run.close();
      expect(digestOf(out)).toBe(await expectedDigest(batches, 8, { crop: 'both', chan: true }, null));
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await pipeline.close();
      delete process.env.CNSN_REDIS_CA;
    }
  });

  it('a wrong password is a clear error at once, not a hang', async () => {
    const t0 = Date.now();
    const err = await connectRedis({ url: plainUrl.replace('s3cret-pass', 'wrong') }, 'test').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RedisConnectionError);
    expect((err as Error).message).toMatch(
      /cannot connect to redis:\/\/cnsn:\*\*\*@127\.0\.0\.1:\d+\/?: WRONGPASS/,
    );
    expect((err as Error).message).not.toContain('wrong');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a driver given a wrong password fails at once in one line, even with a long --connect-timeout', async () => {
    const t0 = Date.now();
    const r = await runCnsn([
      'run',
      '--synthetic',
      '--batches',
      '1',
      '--shape',
      '1,2,2,2',
      '--redis',
      plainUrl.replace('s3cret-pass', 'wrong'),
      '--connect-timeout',
      '120',
      '--no-progress',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^cnsn: error: cannot connect to redis:\/\/cnsn:\*\*\*@.*WRONGPASS/),
    ]);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('a worker given a wrong password says so and exits non-zero', async () => {
    const r = await runApp(
      'apps/worker/src/main.ts',
      ['--redis', plainUrl.replace('s3cret-pass', 'nope'), '--backend', 'fused'],
      { timeoutMs: 30_000 },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('WRONGPASS');
  });

  it('without the CA the TLS certificate is refused with a clear error', async () => {
    const err = await connectRedis({ url: tlsUrl }, 'test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisConnectionError);
    expect((err as Error).message).toMatch(/cannot connect to rediss:.*(self[- ]signed|certificate)/i);
  });
});
