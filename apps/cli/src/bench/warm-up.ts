import { listWorkers, type Pipeline } from '@cnsn/pipeline';
import { DATA_PLANES, type DataPlaneKind } from '@cnsn/protocol';

/**
 * Runs tiny batches on `plane` until every worker in `workerIds` has done one: the connections of a
 * fresh pool then hold their scripts (ioredis sends a script's source once per connection, then
 * its hash), as a long-running pool's do, and a benchmark counts steady-state traffic only.
 */
export async function warmUp(
  pipeline: Pipeline,
  plane: string,
  workerIds: string[],
  timeoutMs = 30_000,
): Promise<void> {
  if (!workerIds.length) return;
  const deadline = Date.now() + timeoutMs;
  const shape = [2, 1, 1, 2];
  for (;;) {
    const run = await pipeline.openRun({
      dataPlane: (DATA_PLANES as readonly string[]).includes(plane) ? (plane as DataPlaneKind) : 'redis',
      crossnorm: { crop: 'neither' },
      selfnorm: null,
      onError: 'skip',
      maxInFlight: 8,
    });
    const feeding = (async () => {
      for (let i = 0; i < 2 * workerIds.length; i++) await run.enqueue(new Float32Array(4).fill(i), shape);
      await run.end();
    })();
    for await (const _ of run.results()) {
      // drained
    }
    await feeding;
    await run.close();
    // Heartbeats (every 2 s) carry each worker's count of batches.
    for (let i = 0; i < 15; i++) {
      const done = new Map((await listWorkers(pipeline.redis, pipeline.keys)).map((w) => [w.id, w.batches]));
      if (workerIds.every((id) => (done.get(id) ?? 0) > 0)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    if (Date.now() > deadline) return;
  }
}
