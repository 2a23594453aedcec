import { LocalRedis } from './local-redis.js';

export interface ResolvedRedis {
  url: string;
  /** The private server started here, stopped by `dispose` (and at process exit). */
  local: LocalRedis | null;
  dispose(): Promise<void>;
}

/**
 * docs/cli.md's rule for every command: `--redis`, else REDIS_URL, else a private redis-server on a
 * free loopback port with a temporary directory. Without redis-server installed it throws
 * RedisServerMissingError, which says how to get one.
 */
export async function resolveRedis(
  flag: string | undefined,
  options: { forcePrivate?: boolean } = {},
): Promise<ResolvedRedis> {
  const url = options.forcePrivate ? undefined : (flag ?? process.env.REDIS_URL);
  if (url) return { url, local: null, dispose: async () => undefined };
  const local = await LocalRedis.start({ appendonly: false });
  const stop = (): void => {
    void local.dispose();
  };
  process.once('exit', stop);
  return {
    url: local.url,
    local,
    dispose: async () => {
      process.off('exit', stop);
      await local.dispose();
    },
  };
}
