/**
 * The producer's bound: at most `limit` batches enqueued and not yet delivered. `acquire` waits
 * (without polling) until the collector's cursor moves far enough.
 */
export class InFlightWindow {
  private waiters: Array<{ seq: number; resolve: () => void; reject: (err: Error) => void }> = [];
  private delivered: number;
  private closedWith: Error | null = null;

  constructor(
    readonly limit: number,
    delivered: number,
  ) {
    this.delivered = delivered;
  }

  /** Resolves when batch `seq` may be enqueued: seq - delivered < limit. */
  acquire(seq: number): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (seq - this.delivered < this.limit) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** The collector delivered everything below `delivered`. */
  advance(delivered: number): void {
    this.delivered = delivered;
    const ready = this.waiters.filter((w) => w.seq - delivered < this.limit);
    this.waiters = this.waiters.filter((w) => w.seq - delivered >= this.limit);
    for (const w of ready) w.resolve();
  }

  /** Fails every waiter (the run failed or closed). */
  close(err: Error): void {
    this.closedWith = err;
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
  }
}
