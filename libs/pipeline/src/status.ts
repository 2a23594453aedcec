import type { Keyspace, RunSpec } from '@cnsn/protocol';
import type { Queue } from 'bullmq';
import { primaryNodes, type RedisClient } from './redis/redis-connection.js';
import { type RunCounters, type RunState, TIMELINE_WINDOW_MS } from './run-state.js';
import { listWorkers, type WorkerInfo } from './worker-registry.js';

export interface RunStatus {
  run: string;
  spec: RunSpec;
  counters: RunCounters;
  /** The run's data plane (`redis`: tensors through Redis; `direct`: straight to the driver). */
  dataPlane: RunSpec['dataPlane'];
  /** Enqueued and not yet delivered. */
  inFlight: number;
  /** Finished by workers and waiting for the collector (the reorder buffer, held in Redis). */
  reorderBuffer: number;
  /** Batches finished per second over the last minute. */
  batchesPerSec: number;
  /** Batches finished per second in each 5 s of the timeline window, oldest first. */
  throughput: number[];
}

/** Width of one throughput bucket. */
export const THROUGHPUT_BUCKET_MS = 5000;

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
  redis: RedisClient,
  queue: Queue,
  keys: Keyspace,
  state: RunState,
  now = Date.now(),
): Promise<PipelineStatus> {
  const jobs = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
  const runs: RunStatus[] = [];
  const buckets = TIMELINE_WINDOW_MS / THROUGHPUT_BUCKET_MS;
  for (const { spec, counters } of await state.list()) {
    const times = await state.timeline(spec.run, now - TIMELINE_WINDOW_MS);
    const throughput = new Array<number>(buckets).fill(0);
    for (const t of times) {
      const bucket = buckets - 1 - Math.floor((now - t) / THROUGHPUT_BUCKET_MS);
      if (bucket >= 0 && bucket < buckets)
        throughput[bucket] = (throughput[bucket] as number) + 1000 / THROUGHPUT_BUCKET_MS;
    }
    const lastMinute = times.filter((t) => t >= now - 60_000);
    const since = lastMinute.length ? Math.max(1, (now - Math.min(...lastMinute)) / 1000) : 60;
    runs.push({
      run: spec.run,
      spec,
      counters,
      dataPlane: spec.dataPlane,
      inFlight: counters.enqueued - counters.delivered,
      reorderBuffer: Math.max(0, counters.done + counters.failed - counters.delivered),
      batchesPerSec: lastMinute.length / since,
      throughput,
    });
  }
  // On a cluster, the primaries' memory added up (the policy is the first primary's).
  const infos = await Promise.all(primaryNodes(redis).map((node) => node.info('memory')));
  const fieldOf = (info: string, name: string): string | undefined =>
    new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const total = (name: string): number =>
    infos.reduce((sum, info) => sum + Number(fieldOf(info, name) ?? 0), 0);
  const failed = await queue.getFailed(0, 19);
  return {
    queue: queue.name,
    jobs,
    runs,
    workers: await listWorkers(redis, keys, now),
    redis: {
      usedMemory: total('used_memory'),
      maxMemory: total('maxmemory'),
      policy: fieldOf(infos[0] ?? '', 'maxmemory_policy') ?? null,
    },
    recentFailures: failed.map((j) => ({
      run: String((j.data as { run?: unknown }).run ?? ''),
      seq: Number((j.data as { seq?: unknown }).seq ?? -1),
      reason: j.failedReason ?? '',
      at: j.finishedOn ?? j.timestamp,
    })),
  };
}
