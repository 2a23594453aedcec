import { readTensorBlobHeader, type WireDtype } from '@cnsn/protocol';
import type { DriverDataPlane, DriverPlaneContext } from '../data-plane.js';
import type { DirectRunHandler, DirectServer } from './direct-server.js';

/** Room for a result's header beyond its values: the plan and SelfNorm's statistics (per channel). */
export function resultHeaderAllowance(channels: number): number {
  return 64 * 1024 + channels * 256;
}

/**
 * The direct plane, driver side: the driver keeps each batch it has in flight (it does anyway, to
 * repair losses) and serves it from its endpoint; results are received straight into the run's
 * buffers. Redis carries only the jobs: two crossings per batch instead of four, none through Redis.
 */
export class DirectDriverPlane implements DriverDataPlane, DirectRunHandler {
  readonly kind = 'direct' as const;
  readonly jobFields: { plane: 'direct'; secret: string };
  readonly bytesMoved = { in: 0, out: 0 };
  readonly secret: string;
  private readonly inputs = new Map<
    number,
    { parts: Uint8Array[]; shape: readonly number[]; bytes: number }
  >();
  private readonly results = new Map<number, Uint8Array>();

  constructor(
    private readonly server: DirectServer,
    private readonly ctx: DriverPlaneContext & { secret: string; wire: WireDtype },
  ) {
    this.secret = ctx.secret;
    this.jobFields = { plane: 'direct', secret: ctx.secret };
    server.register(ctx.run, this);
  }

  /** Where workers reach this run's batches. */
  get endpoint(): string {
    return this.server.url;
  }

  async putInput(seq: number, blob: Uint8Array[], shape: readonly number[]): Promise<void> {
    this.inputs.set(seq, { parts: blob, shape, bytes: blob.reduce((n, p) => n + p.byteLength, 0) });
  }

  async hasInput(seq: number): Promise<boolean> {
    return this.inputs.has(seq);
  }

  async fetchResult(seq: number): Promise<Uint8Array | null> {
    return this.results.get(seq) ?? null;
  }

  async hasResult(seq: number): Promise<boolean> {
    return this.results.has(seq);
  }

  async forget(seq: number): Promise<void> {
    this.inputs.delete(seq);
    this.results.delete(seq);
  }

  async close(): Promise<void> {
    this.server.unregister(this.ctx.run);
    this.inputs.clear();
    this.results.clear();
  }

  // The server's side (DirectRunHandler).

  received(seq: number): boolean {
    return this.results.has(seq);
  }

  input(seq: number): Uint8Array[] | null {
    return this.inputs.get(seq)?.parts ?? null;
  }

  resultLimit(seq: number): number | null {
    const held = this.inputs.get(seq);
    if (!held || this.results.has(seq)) return null;
    // The result has the input's shape and wire precision; only its header (meta) is larger.
    return held.bytes + resultHeaderAllowance(held.shape[1] ?? 0);
  }

  take(length: number): Uint8Array {
    return this.ctx.results.take(length);
  }

  give(buffer: Uint8Array): void {
    this.ctx.results.give(buffer);
  }

  accept(seq: number, body: Uint8Array): string | null {
    const held = this.inputs.get(seq);
    if (!held) return `batch ${seq} is not in flight`;
    if (this.results.has(seq)) return `batch ${seq}: result received already`;
    let header;
    try {
      header = readTensorBlobHeader(body, `result of batch ${seq}`, this.ctx.maxBlobBytes);
    } catch (err) {
      return (err as Error).message;
    }
    if (header.shape.length !== held.shape.length || header.shape.some((d, i) => d !== held.shape[i]))
      return `result of batch ${seq}: shape [${header.shape.join(', ')}] is not the batch's [${held.shape.join(', ')}]`;
    if (header.dtype !== this.ctx.wire)
      return `result of batch ${seq}: ${header.dtype} on the wire, the run uses ${this.ctx.wire}`;
    this.results.set(seq, body);
    this.bytesMoved.out += body.byteLength;
    return null;
  }

  served(bytes: number): void {
    this.bytesMoved.in += bytes;
  }
}
