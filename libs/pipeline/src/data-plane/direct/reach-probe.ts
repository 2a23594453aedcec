import { randomBytes } from 'node:crypto';
import type { Keyspace } from '@cnsn/protocol';
import type { RedisClient } from '../../redis/redis-connection.js';
import { Pool } from 'undici';
import { listWorkers, type WorkerInfo } from '../../worker-registry.js';

/** How long a probe and its answers stay in Redis. */
const PROBE_TTL_S = 60;

/** GET `url/v1/ping` within `timeoutMs`: 'ok', or why not. */
export async function pingEndpoint(url: string, ca: Buffer | undefined, timeoutMs = 2000): Promise<string> {
  const pool = new Pool(new URL(url).origin, {
    connections: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: { timeout: timeoutMs, ...(ca ? { ca } : {}) },
  });
  try {
    const { statusCode, body } = await pool.request({ path: '/v1/ping', method: 'GET' });
    await body.dump();
    return statusCode === 200 ? 'ok' : `answered ${statusCode}`;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await pool.close().catch(() => undefined);
  }
}

/**
 * A worker's part, from its heartbeat loop: it tries each open probe's endpoint once and answers
 * (`ok`, or why not). `answered` remembers the probes it did.
 */
export async function answerProbes(
  redis: RedisClient,
  keys: Keyspace,
  worker: string,
  answered: Set<string>,
  ca: Buffer | undefined,
): Promise<void> {
  const ids = await redis.smembers(keys.probes());
  for (const id of ids) {
    if (answered.has(id)) continue;
    answered.add(id);
    const url = await redis.hget(keys.probe(id), 'endpoint');
    if (!url) continue;
    const answer = await pingEndpoint(url, ca);
    await redis
      .multi()
      .hset(keys.probeAnswers(id), worker, answer)
      .expire(keys.probeAnswers(id), PROBE_TTL_S)
      .exec();
  }
  for (const id of answered) if (!ids.includes(id)) answered.delete(id);
}

export interface ProbeOutcome {
  /** Live workers when the probe ended, and what each answered (missing: no answer in time). */
  workers: WorkerInfo[];
  answers: Record<string, string>;
}

/** A driver's part: asks the live workers to reach `url`, waits for all of them (or the timeout). */
export async function probeWorkers(
  redis: RedisClient,
  keys: Keyspace,
  url: string,
  timeoutMs: number,
): Promise<ProbeOutcome> {
  const id = randomBytes(8).toString('hex');
  await redis
    .multi()
    .hset(keys.probe(id), 'endpoint', url)
    .expire(keys.probe(id), PROBE_TTL_S)
    .sadd(keys.probes(), id)
    .exec();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const [workers, answers] = await Promise.all([
        listWorkers(redis, keys),
        redis.hgetall(keys.probeAnswers(id)),
      ]);
      if ((workers.length && workers.every((w) => answers[w.id])) || Date.now() > deadline)
        return { workers, answers };
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await redis.multi().srem(keys.probes(), id).del(keys.probe(id), keys.probeAnswers(id)).exec();
  }
}
