import { resolveRedis as resolve, type ResolvedRedis } from '@cnsn/infra';
import { CliError } from './cli-error.js';

/** The command's Redis (docs/cli.md); a missing redis-server becomes a command error with the hint. */
export async function resolveRedis(flag: string | undefined, forcePrivate = false): Promise<ResolvedRedis> {
  try {
    return await resolve(flag, { forcePrivate });
  } catch (err) {
    throw new CliError((err as Error).message, 1);
  }
}
