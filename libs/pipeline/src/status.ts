import type { Keyspace, RunSpec } from '@cnsn/protocol';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RunCounters, RunStore } from './run-store.js';
import { listWorkers, type WorkerInfo } from './worker-registry.js';

export interface RunStatus {
  run: string;
  spec: RunSpec;
  counters: RunCounters;
  /** Enqueued and not yet delivered. */
  inFlight: number;
  /** Finished by workers and waiting for the collector (the reorder buffer, held in Redis). */
  reorderBuffer: number;
  /** Batches finished per second over the last minute. */
  batchesPerSec: number;
  /** Batches finished per second in each 5 s of the last 2 minutes, oldest first (24 values). */
  throughput: number[];
}

export interface PipelineStatus {
  queue: string;
  jobs: Record<string, number>;
  runs: RunStatus[];
  workers: WorkerInfo[];
  redis: { usedMemory: number; maxMemory: number; policy: string | null };
  recentFailures: Array<{ run: string; seq: number; reason: string; at: number }>;
}

/** One snapshot of the whole pipeline: queue depths, runs, live workers, Redis memory, failures. */
export async function readStatus(
  redis: Redis,
  queue: Queue,
  keys: Keyspace,
  store: RunStore,
  now = Date.now(),
): Promise<PipelineStatus> {
  const jobs = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  const runs: RunStatus[] = [];
  for (const { spec, counters } of await store.list()) {
    const times = (await redis.zrangebyscore(keys.timeline(spec.run), now - 120_000, '+inf', 'WITHSCORES'))
      .filter((_, i) => i % 2 === 1)
      .map(Number);
    const throughput = new Array<number>(24).fill(0);
    for (const t of times) {
      const bucket = 23 - Math.floor((now - t) / 5000);
      if (bucket >= 0 && bucket < 24) throughput[bucket] = (throughput[bucket] as number) + 1 / 5;
    }
    const lastMinute = times.filter((t) => t >= now - 60_000);
    const since = lastMinute.length ? Math.max(1, (now - Math.min(...lastMinute)) / 1000) : 60;
    runs.push({
      run: spec.run,
      spec,
      counters,
      inFlight: counters.enqueued - counters.delivered,
      reorderBuffer: Math.max(0, counters.done + counters.failed - counters.delivered),
      batchesPerSec: lastMinute.length / since,
      throughput,
    });
  }
  const info = await redis.info('memory');
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const failed = await queue.getFailed(0, 19);
  return {
    queue: queue.name,
    jobs,
    runs,
    workers: await listWorkers(redis, keys, now),
    redis: {
      usedMemory: Number(field('used_memory') ?? 0),
      maxMemory: Number(field('maxmemory') ?? 0),
      policy: field('maxmemory_policy') ?? null,
    },
    recentFailures: failed.map((j) => ({
      run: String((j.data as { run?: unknown }).run ?? ''),
      seq: Number((j.data as { seq?: unknown }).seq ?? -1),
      reason: j.failedReason ?? '',
      at: j.finishedOn ?? j.timestamp,
    })),
  };
}
