import { type BatchJobData, type Keyspace, ProtocolError } from '@cnsn/protocol';
import type { BlobStore } from '../redis/blob-connection.js';
import {
  type DriverDataPlane,
  type DriverPlaneContext,
  InputMissingError,
  type WorkerDataPlane,
} from './data-plane.js';
import type { PlaneDefinition } from './plane-definition.js';

const size = (parts: Uint8Array[]): number => parts.reduce((n, p) => n + p.byteLength, 0);

/**
 * The redis plane, driver side: inputs and results are blobs under the batch's own keys, moved on
 * the blob connection (sent in parts, received in place). Every batch crosses Redis four times.
 */
export class RedisDriverPlane implements DriverDataPlane {
  readonly kind = 'redis' as const;
  readonly jobFields = { plane: 'redis' } as const;
  readonly bytesMoved = { in: 0, out: 0 };

  constructor(
    private readonly blobs: BlobStore,
    private readonly keys: Keyspace,
    private readonly ctx: DriverPlaneContext,
  ) {}

  async putInput(seq: number, blob: Uint8Array[], _shape?: readonly number[]): Promise<void> {
    await this.blobs.command(['SET', this.keys.input(this.ctx.run, seq), blob]);
    this.bytesMoved.in += size(blob);
  }

  async hasInput(seq: number): Promise<boolean> {
    return (await this.blobs.command(['EXISTS', this.keys.input(this.ctx.run, seq)])) === 1;
  }

  async fetchResult(seq: number): Promise<Uint8Array | null> {
    const reply = await this.blobs.command(['GET', this.keys.output(this.ctx.run, seq)], (length) =>
      this.ctx.results.take(length),
    );
    if (!(reply instanceof Uint8Array)) return null;
    this.bytesMoved.out += reply.byteLength;
    return reply;
  }

  async hasResult(seq: number): Promise<boolean> {
    return (await this.blobs.command(['EXISTS', this.keys.output(this.ctx.run, seq)])) === 1;
  }

  async forget(seq: number): Promise<void> {
    await this.blobs.command([
      'UNLINK',
      this.keys.input(this.ctx.run, seq),
      this.keys.output(this.ctx.run, seq),
    ]);
  }

  async close(): Promise<void> {
    // The blob connection belongs to the pipeline; a run's keys went with its batches.
  }
}

/** The redis plane, worker side: the same keys, on the worker's blob connection. */
export class RedisWorkerPlane implements WorkerDataPlane {
  readonly kind = 'redis' as const;

  constructor(
    private readonly blobs: BlobStore,
    private readonly keys: Keyspace,
    private readonly maxBlobBytes: number,
  ) {}

  async fetchInput(job: BatchJobData, into: (length: number) => Uint8Array): Promise<Uint8Array> {
    const key = this.keys.input(job.run, job.seq);
    // The size first: a blob over the bound is refused before a byte of it is stored.
    const length = (await this.blobs.command(['STRLEN', key])) as number;
    if (length === 0) throw new InputMissingError(`input blob ${key} is missing`);
    if (length > this.maxBlobBytes)
      throw new ProtocolError(`blob ${key}`, `${length} bytes exceeds the limit of ${this.maxBlobBytes}`);
    const bytes = await this.blobs.command(['GET', key], into);
    if (!(bytes instanceof Uint8Array))
      throw new InputMissingError(`input blob ${key} vanished while being read`);
    return bytes;
  }

  async putResult(job: BatchJobData, blob: Uint8Array[]): Promise<void> {
    // One connection, in order: the result is stored before the input goes.
    await Promise.all([
      this.blobs.command(['SET', this.keys.output(job.run, job.seq), blob]),
      this.blobs.command(['UNLINK', this.keys.input(job.run, job.seq)]),
    ]);
  }

  async hasResult(job: BatchJobData): Promise<boolean> {
    return (await this.blobs.command(['EXISTS', this.keys.output(job.run, job.seq)])) === 1;
  }

  async discard(job: BatchJobData): Promise<void> {
    await this.blobs.command([
      'UNLINK',
      this.keys.input(job.run, job.seq),
      this.keys.output(job.run, job.seq),
    ]);
  }

  async close(): Promise<void> {
    // The blob connection belongs to the worker runtime.
  }
}

/** The redis plane: tensors as blobs in Redis (workers need reach nothing else). */
export const redisPlane: PlaneDefinition & { kind: 'redis' } = {
  kind: 'redis',
  summary: 'tensors as blobs in Redis, four crossings a batch (for workers that cannot reach the driver)',
  openDriver: async (host, _spec, ctx) => new RedisDriverPlane(host.blobs, host.keys, ctx),
  openWorker: (host) => new RedisWorkerPlane(host.blobs, host.keys, host.maxBlobBytes),
};
