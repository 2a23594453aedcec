import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisConnectionError } from '../errors.js';
import { throttled } from '../backoff.js';
import { type Logger, silentLogger } from '../logger.js';

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

/** How a first connection is made. */
export interface ConnectOptions {
  /**
   * How long a refused or reset first connection is retried (Redis restarting, a pod not up yet).
   * A wrong password, an ACL refusal or an untrusted certificate fails at once. @defaultValue 30000
   */
  connectTimeoutMs?: number;
  /** Told about retries, at most once a second. @defaultValue a silent logger */
  logger?: Logger;
  /** Extra ioredis options. */
  redisOptions?: RedisOptions;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** True for errors that retrying cannot fix: authentication, permissions, TLS trust. */
export function isFatalConnectionError(err: unknown): boolean {
  return err instanceof RedisConnectionError || FATAL.test((err as Error)?.message ?? '');
}

/** Checks a Redis URL's form; the error names the flag and the value. */
export function parseRedisUrl(target: RedisTarget): URL {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    throw new RedisConnectionError(`--redis/REDIS_URL is not a URL: ${JSON.stringify(target.url)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new RedisConnectionError(`${redactUrl(target.url)}: expected a redis:// or rediss:// URL`);
  }
  return url;
}

/**
 * Connects and waits until Redis answers. Reconnects by itself later (every command waits while
 * Redis is away: `maxRetriesPerRequest: null`, which BullMQ requires). A first connection that is
 * refused or reset is retried with backoff for `connectTimeoutMs`; one refused for good (wrong
 * password, TLS) fails at once. Either way the error is a {@link RedisConnectionError}.
 */
export async function connectRedis(
  target: RedisTarget,
  name: string,
  options: ConnectOptions = {},
): Promise<Redis> {
  const url = parseRedisUrl(target);
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const logger = options.logger ?? silentLogger;
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
    ...options.redisOptions,
  });
  const where = redactUrl(target.url);
  const notice = throttled(1000, (err: Error) =>
    logger.warn(
      { redis: where, err: err.message },
      `Redis not reachable yet (${err.message}); retrying for up to ${Math.round(timeoutMs / 1000)} s`,
    ),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s (--connect-timeout)`)),
        timeoutMs,
      );
      const done = (err?: Error): void => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('error', onError);
        if (err) reject(err);
        else resolve();
      };
      const onReady = (): void => done();
      const onError = (err: Error): void => {
        if (FATAL.test(err.message)) {
          fatal = err;
          done(err);
        } else notice(err);
      };
      client.on('ready', onReady);
      client.on('error', onError);
      // connect() rejects on the first refusal; the retry strategy goes on, and 'ready' tells.
      client.connect().catch(() => undefined);
    });
    await client.ping();
  } catch (err) {
    client.disconnect();
    throw new RedisConnectionError(`cannot connect to ${where}: ${(err as Error).message}`);
  }
  // Later faults are reconnected by ioredis; the owner listens to 'error' if it cares.
  client.on('error', (err: Error) => {
    if (FATAL.test(err.message)) fatal = err;
  });
  return client;
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
