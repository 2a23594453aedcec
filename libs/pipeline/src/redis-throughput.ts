import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BlobConnection } from './redis/blob-connection.js';
import type { RedisTarget } from './redis/redis-connection.js';

export interface RedisThroughput {
  bytes: number;
  /** Median milliseconds of one SET and one GET of a value of `bytes`, through the pipeline's blob connection. */
  setMs: number;
  getMs: number;
  /** The same, through a plain ioredis client: what the hand-written blob connection buys. */
  ioredisSetMs: number;
  ioredisGetMs: number;
  /**
   * The most input a redis-plane pipeline could push through this Redis with the blob connection:
   * every batch crosses it four times (driver SET, worker GET, worker SET, collector GET).
   */
  limitGbPerSec: number;
}

/** Times SET and GET of batch-sized values on Redis, blob connection and ioredis alternating (throw-away key). */
export async function measureRedisThroughput(
  target: RedisTarget,
  bytes: number,
  iterations = 20,
): Promise<RedisThroughput> {
  const conn = await BlobConnection.open(target);
  const io = new Redis(target.url, { lazyConnect: true });
  await io.connect();
  const key = `cnsn-throughput-${randomBytes(6).toString('hex')}`;
  const value = new Uint8Array(bytes).fill(7);
  const asBuffer = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const sink = new Uint8Array(bytes);
  const t = { set: [] as number[], get: [] as number[], ioSet: [] as number[], ioGet: [] as number[] };
  const time = async (into: number[], warm: boolean, f: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now();
    await f();
    if (!warm) into.push(performance.now() - t0);
  };
  try {
    for (let i = 0; i < iterations + 2; i++) {
      const warm = i < 2;
      await time(t.set, warm, () => conn.command(['SET', key, value]));
      await time(t.get, warm, () => conn.command(['GET', key], () => sink));
      await time(t.ioSet, warm, () => io.set(key, asBuffer));
      await time(t.ioGet, warm, () => io.getBuffer(key));
    }
    await conn.command(['DEL', key]);
  } finally {
    conn.close();
    io.disconnect();
  }
  const setMs = median(t.set);
  const getMs = median(t.get);
  return {
    bytes,
    setMs,
    getMs,
    ioredisSetMs: median(t.ioSet),
    ioredisGetMs: median(t.ioGet),
    limitGbPerSec: bytes / (2 * setMs + 2 * getMs) / 1e6,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}
