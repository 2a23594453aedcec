import type { BufferPool, DriverDataPlane, DriverPlaneContext } from '../../src/index.js';

/**
 * A data plane in memory, driver side, for the core's unit tests: inputs the simulated workers
 * read, results they deliver (the first copy of a batch wins, as on the real planes). It records
 * the most inputs it ever held, to check the window bounds memory.
 */
export class MemoryDriverPlane implements DriverDataPlane {
  readonly kind = 'memory';
  readonly jobFields = { plane: 'redis' } as const;
  readonly bytesMoved = { in: 0, out: 0 };
  readonly inputs = new Map<number, Uint8Array>();
  readonly results = new Map<number, Uint8Array>();
  maxInputs = 0;
  duplicatesIgnored = 0;
  closed = false;
  private readonly pool: BufferPool;

  constructor(ctx: DriverPlaneContext) {
    this.pool = ctx.results;
  }

  async putInput(seq: number, blob: Uint8Array[], _shape?: readonly number[]): Promise<void> {
    const joined = new Uint8Array(blob.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const part of blob) {
      joined.set(part, at);
      at += part.byteLength;
    }
    this.inputs.set(seq, joined);
    this.maxInputs = Math.max(this.maxInputs, this.inputs.size);
    this.bytesMoved.in += joined.byteLength;
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
    this.closed = true;
  }

  /** A simulated worker hands over a result (a duplicate is ignored). */
  receive(seq: number, blob: Uint8Array): void {
    if (this.results.has(seq)) {
      this.duplicatesIgnored++;
      return;
    }
    const buffer = this.pool.take(blob.byteLength);
    buffer.set(blob);
    this.results.set(seq, buffer);
    this.bytesMoved.out += blob.byteLength;
  }
}
