import { randomBytes } from 'node:crypto';
import { LocalRedis } from '@cnsn/infra';
import { type DataPlaneChoice, listWorkers, Pipeline, type PipelineOptions } from '@cnsn/pipeline';
import { Keyspace } from '@cnsn/protocol';
import { Redis } from 'ioredis';
import { scanKeys } from './redis-keys.js';
import { startWorkers, type WorkerProcess } from './workers.js';

/**
 * One test's isolated pipeline: a redis-server the test started itself, a unique key prefix and
 * queue, real worker processes. `dispose` stops the workers and the server it started.
 */
export class PipelineEnv {
  readonly prefix = `{t${randomBytes(4).toString('hex')}}`;
  readonly queue = `q${randomBytes(3).toString('hex')}`;
  readonly workers: WorkerProcess[] = [];
  private readonly pipelines: Pipeline[] = [];

  constructor(
    readonly redis: LocalRedis,
    /** The plane of the runs this test opens (see TESTED_PLANES). */
    readonly plane: DataPlaneChoice = 'auto',
  ) {}

  static async start(
    options: { appendonly?: boolean; args?: string[]; plane?: DataPlaneChoice } = {},
  ): Promise<PipelineEnv> {
    return new PipelineEnv(
      await LocalRedis.start({ appendonly: options.appendonly ?? false, args: options.args ?? [] }),
      options.plane ?? 'auto',
    );
  }

  async pipeline(options: Partial<PipelineOptions> = {}): Promise<Pipeline> {
    const p = await Pipeline.connect({
      redis: this.redis.url,
      prefix: this.prefix,
      queue: this.queue,
      dataPlane: this.plane,
      ...options,
    });
    this.pipelines.push(p);
    return p;
  }

  async startWorkers(
    count: number,
    options: { concurrency?: number; backend?: string; tag?: string; env?: NodeJS.ProcessEnv } = {},
  ): Promise<WorkerProcess[]> {
    const client = new Redis(this.redis.url);
    try {
      const started = await startWorkers(
        count,
        { url: this.redis.url, prefix: this.prefix, queue: this.queue, ...options },
        async (ids) => {
          const live = new Set((await listWorkers(client, new Keyspace(this.prefix))).map((w) => w.id));
          return ids.every((id) => live.has(id));
        },
        options.tag ?? `w${this.workers.length}-`,
      );
      this.workers.push(...started);
      return started;
    } finally {
      client.disconnect();
    }
  }

  async stopWorkers(): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.stop()));
  }

  /** The test's keyspace (its prefix). */
  get keys(): Keyspace {
    return new Keyspace(this.prefix);
  }

  /**
   * Every key this test's pipeline wrote: the control keys under its prefix and the tensor blobs,
   * which carry the prefix without its braces (Keyspace.blobPrefix).
   */
  async keysLeft(): Promise<string[]> {
    return scanKeys(this.redis.url, [`${this.prefix}*`, `${this.keys.blobPrefix}*`]);
  }

  /** keysLeft without BullMQ's own keys (its queue keeps job records within its retention). */
  async pipelineKeysLeft(): Promise<string[]> {
    return (await this.keysLeft()).filter((k) => !k.startsWith(`${this.prefix}:${this.queue}:`));
  }

  async dispose(): Promise<void> {
    for (const p of this.pipelines.splice(0)) await p.close().catch(() => undefined);
    await this.stopWorkers();
    await this.redis.dispose();
  }
}
