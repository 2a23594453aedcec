import { LocalRedis } from '@cnsn/infra';
import { CliError } from './cli-error.js';

export interface ResolvedRedis {
  url: string;
  /** The private server this command started, stopped by `dispose`. */
  local: LocalRedis | null;
  dispose(): Promise<void>;
}

/**
 * CLI.md: `--redis`, else REDIS_URL, else a private redis-server on a free loopback port with a
 * temporary directory, stopped on exit. Without redis-server, it says how to get one.
 */
export async function resolveRedis(flag: string | undefined, forcePrivate = false): Promise<ResolvedRedis> {
  const url = forcePrivate ? undefined : (flag ?? process.env.REDIS_URL);
  if (url) return { url, local: null, dispose: async () => undefined };
  let local: LocalRedis;
  try {
    local = await LocalRedis.start({ appendonly: false });
  } catch (err) {
    throw new CliError((err as Error).message, 1);
  }
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
