/**
 * Where received blobs land. With `reuse`, buffers come back with `give` and serve later batches
 * (no allocation per batch); without, each `take` is a new buffer the consumer may keep. It counts
 * what is out, so tests can check that a run's memory stays bounded.
 */
export class BufferPool {
  private readonly free: ArrayBuffer[] = [];
  private readonly out = new Set<ArrayBuffer>();
  private peak = 0;

  constructor(readonly reuse: boolean) {}

  /** A buffer of exactly `length` bytes (a view on a pooled buffer at least that large). */
  take(length: number): Uint8Array {
    if (!this.reuse) return new Uint8Array(length);
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = (this.free[i] as ArrayBuffer).byteLength;
      if (size >= length && (best < 0 || size < (this.free[best] as ArrayBuffer).byteLength)) best = i;
    }
    const buffer = best >= 0 ? (this.free.splice(best, 1)[0] as ArrayBuffer) : new ArrayBuffer(length);
    this.out.add(buffer);
    this.peak = Math.max(this.peak, this.out.size);
    return new Uint8Array(buffer, 0, length);
  }

  /** The buffer (or a view on it) is no longer used. Giving one twice, or a foreign one, is a no-op. */
  give(view: ArrayBufferView | null | undefined): void {
    if (!this.reuse || !view) return;
    const buffer = view.buffer as ArrayBuffer;
    if (!this.out.delete(buffer)) return;
    this.free.push(buffer);
  }

  /** Buffers taken and not given back. */
  get outstanding(): number {
    return this.out.size;
  }

  /** The most buffers ever out at once. */
  get highWater(): number {
    return this.peak;
  }
}
