import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { RedisConnectionError } from '../errors.js';
import { throttled } from '../backoff.js';
import { isRefusedForGood } from './redis-errors.js';
import { type Logger, silentLogger } from '../logger.js';

/** How to reach Redis. */
export interface RedisTarget {
  /** `redis://` or `rediss://` URL, with user and password when given. */
  url: string;
  /** PEM file of the CA that signed the server certificate (rediss:// with a private CA). @defaultValue env CNSN_REDIS_CA */
  caFile?: string;
}

/**
 * A connected client: one server, or a Redis Cluster (detected by connectRedis from any node's
 * URL). Both speak the same commands; BullMQ and the run state keep every key under the prefix's
 * hash tag, so their scripts and transactions stay on one slot either way.
 */
export type RedisClient = Redis | Cluster;

/** True for a cluster client. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as Cluster).isCluster === true;
}

const targets = new WeakMap<object, RedisTarget>();

/** The servers that hold data: the client itself, or a cluster's primaries (SCAN, INFO per node). */
export function primaryNodes(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/** Another connection to the same server or cluster (a blocking reader, BullMQ's own). */
export function duplicateClient(client: RedisClient, connectionName?: string): RedisClient {
  const copy = isCluster(client)
    ? client.duplicate(
        undefined,
        connectionName ? { redisOptions: { ...client.options.redisOptions, connectionName } } : undefined,
      )
    : client.duplicate(connectionName ? { connectionName } : undefined);
  const target = targets.get(client);
  if (target) targets.set(copy, target);
  return copy;
}

/**
 * How to reach the server or cluster a client talks to (for the blob connections): the target it
 * was connected with, else one read off the client's options.
 */
export function targetOf(client: RedisClient): RedisTarget {
  const known = targets.get(client);
  if (known) return known;
  if (isCluster(client)) {
    const node = client.nodes('master')[0]?.options ?? {};
    const o = client.options.redisOptions ?? {};
    const auth = o.password
      ? `${encodeURIComponent(o.username ?? '')}:${encodeURIComponent(o.password)}@`
      : '';
    return { url: `${o.tls ? 'rediss' : 'redis'}://${auth}${node.host ?? '127.0.0.1'}:${node.port ?? 6379}` };
  }
  const o = client.options;
  const auth = o.password ? `${encodeURIComponent(o.username ?? '')}:${encodeURIComponent(o.password)}@` : '';
  const host = o.host?.includes(':') ? `[${o.host}]` : (o.host ?? '127.0.0.1');
  return { url: `${o.tls ? 'rediss' : 'redis'}://${auth}${host}:${o.port ?? 6379}/${o.db ?? 0}` };
}

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
  /**
   * Ask the server whether it is a cluster node (INFO cluster) and, if so, connect to the cluster.
   * @defaultValue true
   */
  detectCluster?: boolean;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

/** True for errors that retrying cannot fix: authentication, permissions, TLS trust (redis-errors.ts). */
export { isRefusedForGood } from './redis-errors.js';

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
 * Connects and waits until Redis answers; given a Redis Cluster node, connects to the cluster (see
 * {@link RedisClient}). Reconnects by itself later (every command waits while
 * Redis is away: `maxRetriesPerRequest: null`, which BullMQ requires). A first connection that is
 * refused or reset is retried with backoff for `connectTimeoutMs`; one refused for good (wrong
 * password, TLS) fails at once. Either way the error is a {@link RedisConnectionError}.
 */
export async function connectRedis(
  target: RedisTarget,
  name: string,
  options: ConnectOptions = {},
): Promise<RedisClient> {
  const client = await connectServer(target, name, options);
  if (options.detectCluster !== false) {
    const info = await client.info('cluster').catch(() => '');
    if (/cluster_enabled:1/.test(info)) {
      client.disconnect();
      return connectCluster(target, name, options);
    }
  }
  targets.set(client, target);
  return client;
}

async function connectServer(target: RedisTarget, name: string, options: ConnectOptions): Promise<Redis> {
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
        if (isRefusedForGood(err)) {
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
    throw new RedisConnectionError(`cannot connect to ${where}: ${(err as Error).message}`, { cause: err });
  }
  // Later faults are reconnected by ioredis; the owner listens to 'error' if it cares.
  client.on('error', (err: Error) => {
    if (isRefusedForGood(err)) fatal = err;
  });
  return client;
}

/**
 * Warns when Redis may evict keys (BullMQ and the tensor blobs need `noeviction`). Managed Redis
 * often forbids CONFIG: then it says it could not check.
 */
export async function checkRedisConfig(client: RedisClient, logger: Logger): Promise<string | null> {
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

/**
 * A cluster client from one node's URL: credentials and TLS for every node, `maxRetriesPerRequest:
 * null` (BullMQ requires it), and retries through failovers (CLUSTERDOWN, TRYAGAIN, a node gone)
 * while the cluster promotes a replica.
 */
async function connectCluster(target: RedisTarget, name: string, options: ConnectOptions): Promise<Cluster> {
  const url = parseRedisUrl(target);
  const where = redactUrl(target.url);
  const db = url.pathname.replace(/^\//, '');
  if (db && db !== '0')
    throw new RedisConnectionError(
      `${where} is a Redis Cluster node, and a cluster has database 0 only: drop /${db} from the URL`,
    );
  const caFile = target.caFile ?? process.env.CNSN_REDIS_CA;
  const tls = url.protocol === 'rediss:' ? { ...(caFile ? { ca: readFileSync(caFile) } : {}) } : undefined;
  const cluster = new Cluster(
    [{ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) }],
    {
      lazyConnect: true,
      enableReadyCheck: true,
      redisOptions: {
        connectionName: name,
        maxRetriesPerRequest: null,
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
        ...(tls ? { tls } : {}),
        ...options.redisOptions,
      },
      // Managed clusters announce names their certificates carry: keep them for TLS.
      ...(tls
        ? { dnsLookup: (address: string, done: (err: null, address: string) => void) => done(null, address) }
        : {}),
      clusterRetryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 2000),
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 200,
      maxRedirections: 64,
      slotsRefreshTimeout: 2000,
    },
  );
  try {
    await withTimeout(cluster.connect(), options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    await cluster.ping();
  } catch (err) {
    cluster.disconnect();
    throw new RedisConnectionError(
      `cannot connect to the Redis Cluster at ${where}: ${(err as Error).message}`,
    );
  }
  cluster.on('error', () => undefined);
  targets.set(cluster, target);
  return cluster;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
