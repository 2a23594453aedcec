import type { Keyspace } from '@cnsn/protocol';
import type { RedisClient } from './redis/redis-connection.js';

/** What a worker says of itself in its heartbeat (shown by `cnsn status` and the dashboard). */
export interface WorkerInfo {
  id: string;
  host: string;
  /** The address it reaches Redis from: its host as the network sees it ('' when unknown). */
  address: string;
  /** Which /dev/shm it sees (boot id, device, inode: see shmIdentity); '' when unknown. */
  shmId: string;
  pid: number;
  /** Backend name, e.g. `fused` or `tfjs-tensorflow`. */
  backend: string;
  /** Detail, e.g. `fused (wasm-simd)` or `webgpu (WGSL on GPU NVIDIA ...)`. */
  backendDetail: string;
  /** The adapter a GPU backend runs on (vendor, device, driver); '' for CPU backends. */
  adapter: string;
  queue: string;
  concurrency: number;
  state: string;
  startedAt: number;
  batches: number;
  failed: number;
  /** Kernel milliseconds of the last batch and the mean of the recent ones. */
  lastKernelMs: number;
  recentKernelMs: number;
  lastSeen: number;
  /** Resident set and V8 heap in use (bytes), and the runs the worker holds now (see RunCache). */
  rssBytes: number;
  heapUsedBytes: number;
  runsHeld: number;
}

/** A worker is listed while its heartbeat is younger than this. */
export const WORKER_TTL_MS = 10_000;

export async function writeHeartbeat(redis: RedisClient, keys: Keyspace, info: WorkerInfo): Promise<void> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(info)) fields[k] = String(v);
  await redis
    .multi()
    .hset(keys.worker(info.id), fields)
    .pexpire(keys.worker(info.id), WORKER_TTL_MS)
    .zadd(keys.workers(), info.lastSeen, info.id)
    .exec();
}

export async function removeHeartbeat(redis: RedisClient, keys: Keyspace, id: string): Promise<void> {
  await redis.multi().del(keys.worker(id)).zrem(keys.workers(), id).exec();
}

/** Live workers (heartbeat within {@link WORKER_TTL_MS}); stale entries are pruned on the way. */
export async function listWorkers(
  redis: RedisClient,
  keys: Keyspace,
  now = Date.now(),
): Promise<WorkerInfo[]> {
  await redis.zremrangebyscore(keys.workers(), '-inf', String(now - WORKER_TTL_MS));
  const ids = await redis.zrange(keys.workers(), '0', '-1');
  const out: WorkerInfo[] = [];
  for (const id of ids) {
    const h = await redis.hgetall(keys.worker(id));
    if (!h.id) continue;
    out.push({
      id: h.id,
      host: h.host ?? '',
      address: h.address ?? '',
      shmId: h.shmId ?? '',
      pid: Number(h.pid),
      backend: h.backend ?? '',
      backendDetail: h.backendDetail ?? '',
      adapter: h.adapter ?? '',
      queue: h.queue ?? '',
      concurrency: Number(h.concurrency),
      state: h.state ?? '',
      startedAt: Number(h.startedAt),
      batches: Number(h.batches),
      failed: Number(h.failed),
      lastKernelMs: Number(h.lastKernelMs),
      recentKernelMs: Number(h.recentKernelMs),
      lastSeen: Number(h.lastSeen),
      rssBytes: Number(h.rssBytes ?? 0),
      heapUsedBytes: Number(h.heapUsedBytes ?? 0),
      runsHeld: Number(h.runsHeld ?? 0),
    });
  }
  return out;
}
