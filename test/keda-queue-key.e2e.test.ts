import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalRedis } from '@cnsn/infra';
import { type Shape4 } from '@cnsn/kernels';
import { listWorkers, Pipeline } from '@cnsn/pipeline';
import { DEFAULT_PREFIX, DEFAULT_QUEUE, Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT, startWorkers, testBatch, type WorkerProcess } from './support/index.js';

// The list KEDA's ScaledObject reads (infra/k8s/base) is the one that holds the batches waiting for
// a worker, under the default prefix and queue the images run with: it grows while batches wait and
// empties as workers take them. On a server of this test's own.
const scaled = parse(readFileSync(join(REPO_ROOT, 'infra/k8s/base/worker-scaledobject.yaml'), 'utf8')) as {
  spec: { triggers: Array<{ type: string; metadata: { listName: string; listLength: string } }> };
};
const trigger = scaled.spec.triggers[0];

let redis: LocalRedis;
let client: Redis;
const workers: WorkerProcess[] = [];
beforeAll(async () => {
  redis = await LocalRedis.start();
  client = new Redis(redis.url);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  client?.disconnect();
  await redis?.dispose();
});

it("the ScaledObject's redis trigger reads the queue's waiting batches: it moves when batches wait and when workers take them", async () => {
  expect(trigger?.type).toBe('redis');
  const listName = trigger?.metadata.listName as string;
  expect(Number(trigger?.metadata.listLength)).toBeGreaterThan(0);
  const pipeline = await Pipeline.connect({
    redis: redis.url,
    prefix: DEFAULT_PREFIX,
    queue: DEFAULT_QUEUE,
    dataPlane: 'redis',
  });
  const shape: Shape4 = [2, 4, 7, 7];
  const run = await pipeline.openRun({ seed: 1, maxInFlight: 20 });
  expect(await client.llen(listName)).toBe(0);
  for (let i = 0; i < 12; i++) {
    const b = testBatch(shape, 40 + i);
    await run.enqueue(b.data, b.shape);
  }
  await run.end();
  // No worker yet: KEDA would see 12 and ask for ceil(12 / listLength) workers.
  expect(await client.llen(listName)).toBe(12);
  const keys = new Keyspace(DEFAULT_PREFIX);
  workers.push(
    ...(await startWorkers(
      1,
      { url: redis.url, prefix: DEFAULT_PREFIX, queue: DEFAULT_QUEUE },
      async (ids) => {
        const live = new Set((await listWorkers(client, keys)).map((w) => w.id));
        return ids.every((id) => live.has(id));
      },
      'keda-',
    )),
  );
  let delivered = 0;
  for await (const _ of run.results()) delivered++;
  expect(delivered).toBe(12);
  expect(await client.llen(listName)).toBe(0);
  await run.close();
  await pipeline.close();
});
