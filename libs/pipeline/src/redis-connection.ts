import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisConnectionError } from './errors.js';
import type { Logger } from './logger.js';

/** How to reach Redis. */
export interface RedisTarget {
  /** `redis://` or `rediss://` URL, with user and password when given. */
  url: string;
  /** PEM file of the CA that signed the server certificate (rediss:// with a private CA). @defaultValue env CNSN_REDIS_CA */
  caFile?: string;
}

const FATAL = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username|certificate|self[- ]signed|SSL|TLS/i;

/** Hides the password of a Redis URL for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * Connects and waits until Redis answers. Reconnects by itself later (every command waits while
 * Redis is away: `maxRetriesPerRequest: null`, which BullMQ requires); but a first connection that
 * is refused for good (wrong password, TLS) fails at once with a clear {@link RedisConnectionError}.
 */
export async function connectRedis(
  target: RedisTarget,
  name: string,
  options: RedisOptions = {},
): Promise<Redis> {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new RedisConnectionError(`--redis/REDIS_URL is not a URL: ${JSON.stringify(target.url)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new RedisConnectionError(`${redactUrl(target.url)}: expected a redis:// or rediss:// URL`);
  }
  const caFile = target.caFile ?? process.env.CNSN_REDIS_CA;
  const tls = url.protocol === 'rediss:' ? { ...(caFile ? { ca: readFileSync(caFile) } : {}) } : undefined;
  let fatal: Error | null = null;
  const client = new Redis(target.url, {
    connectionName: name,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...(tls ? { tls } : {}),
    retryStrategy: (times) => (fatal ? null : Math.min(100 * 2 ** Math.min(times, 6), 2000)),
    ...options,
  });
  const onError = (err: Error): void => {
    if (FATAL.test(err.message)) fatal = err;
  };
  client.on('error', onError);
  try {
    await withTimeout(client.connect(), 20_000, `no answer from ${redactUrl(target.url)} within 20 s`);
    await client.ping();
  } catch (err) {
    client.disconnect();
    const cause = fatal ?? (err as Error);
    throw new RedisConnectionError(`cannot connect to ${redactUrl(target.url)}: ${cause.message}`);
  }
  return client;
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/**
 * Warns when Redis may evict keys (BullMQ and the tensor blobs need `noeviction`). Managed Redis
 * often forbids CONFIG: then it says it could not check.
 */
export async function checkRedisConfig(client: Redis, logger: Logger): Promise<string | null> {
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    const policy = reply[1];
    if (policy && policy !== 'noeviction') {
      const message = `Redis maxmemory-policy is ${policy}: keys may be evicted and batches lost; set maxmemory-policy noeviction (infra/redis.conf)`;
      logger.warn({ policy }, message);
      return message;
    }
    return null;
  } catch (err) {
    logger.warn(
      { err: (err as Error).message },
      'could not read maxmemory-policy (CONFIG GET refused); make sure it is noeviction',
    );
    return null;
  }
}
