import { randomBytes } from 'node:crypto';
import { LocalRedisCluster } from '@cnsn/infra';
import {
  connectRedis,
  type DataPlaneChoice,
  listWorkers,
  Pipeline,
  type PipelineOptions,
  type RedisClient,
} from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';
import { startWorkers, type WorkerProcess } from './workers.js';

/**
 * A test's pipeline on a Redis Cluster it started itself (3 primaries, 3 replicas, AOF on, 1 s
 * node timeout): each `use` gives a fresh prefix and queue on the same cluster, so the tests of a
 * file share its start-up. `dispose` stops workers, pipelines and every node.
 */
export class ClusterEnv {
  prefix = '';
  queue = '';
  readonly workers: WorkerProcess[] = [];
  private readonly pipelines: Pipeline[] = [];
  private client: RedisClient | null = null;

  private constructor(readonly cluster: LocalRedisCluster) {}

  static async start(): Promise<ClusterEnv> {
    return new ClusterEnv(await LocalRedisCluster.start());
  }

  /** A new prefix and queue (the last test's workers and pipelines stopped). */
  async use(): Promise<void> {
    await this.stopAll();
    this.prefix = `{c${randomBytes(4).toString('hex')}}`;
    this.queue = `q${randomBytes(3).toString('hex')}`;
  }

  get url(): string {
    return this.cluster.url;
  }

  /** A cluster client of the test's own (status checks, key counts). */
  async redis(): Promise<RedisClient> {
    this.client ??= await connectRedis({ url: this.url }, 'cnsn-test');
    return this.client;
  }

  async pipeline(plane: DataPlaneChoice, options: Partial<PipelineOptions> = {}): Promise<Pipeline> {
    const p = await Pipeline.connect({
      redis: this.url,
      prefix: this.prefix,
      queue: this.queue,
      dataPlane: plane,
      ...options,
    });
    this.pipelines.push(p);
    return p;
  }

  async startWorkers(
    count: number,
    options: { env?: NodeJS.ProcessEnv; tag?: string } = {},
  ): Promise<WorkerProcess[]> {
    const client = await this.redis();
    const keys = new Keyspace(this.prefix);
    const started = await startWorkers(
      count,
      { url: this.url, prefix: this.prefix, queue: this.queue, ...(options.env ? { env: options.env } : {}) },
      async (ids) => {
        const live = new Set((await listWorkers(client, keys)).map((w) => w.id));
        return ids.every((id) => live.has(id));
      },
      options.tag ?? `cw${this.workers.length}-`,
    );
    this.workers.push(...started);
    return started;
  }

  /** The primaries' ports with how many tensor blobs of this test each holds now. */
  async blobsPerPrimary(): Promise<Map<number, number>> {
    const blobs = new Keyspace(this.prefix).blobPrefix;
    const counts = new Map<number, number>();
    for (const p of await this.cluster.primaries()) {
      const node = this.cluster.node(p.port);
      if (!node.running) continue;
      const { Redis } = await import('ioredis');
      const direct = new Redis(node.url, { lazyConnect: true });
      try {
        await direct.connect();
        counts.set(p.port, (await direct.keys(`${blobs}:*`)).length);
      } finally {
        direct.disconnect();
      }
    }
    return counts;
  }

  async stopAll(): Promise<void> {
    for (const p of this.pipelines.splice(0)) await p.close().catch(() => undefined);
    await Promise.all(this.workers.splice(0).map((w) => w.stop()));
  }

  async dispose(): Promise<void> {
    await this.stopAll();
    this.client?.disconnect();
    await this.cluster.dispose();
  }
}
