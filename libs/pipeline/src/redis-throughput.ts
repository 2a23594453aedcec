import { randomBytes } from 'node:crypto';
import { BlobConnection } from './redis/blob-connection.js';
import type { RedisTarget } from './redis/redis-connection.js';

export interface RedisThroughput {
  bytes: number;
  /** Median milliseconds of one SET and one GET of a value of `bytes`, through the pipeline's own blob path. */
  setMs: number;
  getMs: number;
  /**
   * The most input a pipeline could push through this Redis: every batch crosses it four times
   * (driver SET, worker GET, worker SET, collector GET), one at a time on a single-threaded server.
   */
  limitGbPerSec: number;
}

/** Times SET and GET of batch-sized values on Redis (under a throw-away key, deleted after). */
export async function measureRedisThroughput(
  target: RedisTarget,
  bytes: number,
  iterations = 20,
): Promise<RedisThroughput> {
  const conn = await BlobConnection.open(target);
  const key = `cnsn-throughput-${randomBytes(6).toString('hex')}`;
  const value = new Uint8Array(bytes).fill(7);
  const sink = new Uint8Array(bytes);
  const sets: number[] = [];
  const gets: number[] = [];
  try {
    for (let i = 0; i < iterations + 2; i++) {
      let t = performance.now();
      await conn.command(['SET', key, value]);
      const set = performance.now() - t;
      t = performance.now();
      await conn.command(['GET', key], () => sink);
      const get = performance.now() - t;
      if (i >= 2) {
        sets.push(set);
        gets.push(get);
      }
    }
    await conn.command(['DEL', key]);
  } finally {
    conn.close();
  }
  const setMs = median(sets);
  const getMs = median(gets);
  return { bytes, setMs, getMs, limitGbPerSec: bytes / (2 * setMs + 2 * getMs) / 1e6 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}
