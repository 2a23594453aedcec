/** How a run's consumer (the trainer) spends its time between batches. */
export interface ConsumerFigures {
  /** Batches it received. */
  batches: number;
  /** Milliseconds it waited for the next batch, in all: input-bound time. */
  waitMs: number;
  /** Milliseconds it held batches (its step: forward, backward, update), in all. */
  holdMs: number;
}

/** The figures are written to Redis at most this often (and when the run ends or closes). */
export const CONSUMER_FLUSH_MS = 1000;

/**
 * Times the consumer of `results()`: a wait runs from its asking for a batch to getting it, a hold
 * from getting it to asking for the next. A client that iterates somewhere else (the Python
 * client, through its gateway) reports its own figures instead, and they replace these.
 */
export class ConsumerClock {
  private figures: ConsumerFigures = { batches: 0, waitMs: 0, holdMs: 0 };
  private external = false;
  private askedAt: number | null = null;
  private heldSince: number | null = null;
  private flushedAt = 0;
  private dirty = false;

  /** The consumer asks for the next batch. */
  ask(now = performance.now()): void {
    if (this.heldSince !== null && !this.external) this.figures.holdMs += now - this.heldSince;
    this.heldSince = null;
    this.askedAt = now;
  }

  /** The consumer gets a batch. */
  handOver(now = performance.now()): void {
    if (this.askedAt !== null && !this.external) {
      this.figures.waitMs += now - this.askedAt;
      this.figures.batches++;
      this.dirty = true;
    }
    this.askedAt = null;
    this.heldSince = now;
  }

  /** A client's own totals since the run opened: from now on they are the figures. */
  report(figures: ConsumerFigures): void {
    for (const [name, value] of Object.entries(figures))
      if (!Number.isFinite(value) || value < 0)
        throw new Error(`consumer figures: ${name} must be a finite number >= 0, got ${value}`);
    this.external = true;
    this.figures = { ...figures };
    this.dirty = true;
  }

  get current(): ConsumerFigures {
    return { ...this.figures };
  }

  /** The figures when they changed and were last written over `CONSUMER_FLUSH_MS` ago (or `force`). */
  due(force = false, now = Date.now()): ConsumerFigures | null {
    if (!this.dirty || (!force && now - this.flushedAt < CONSUMER_FLUSH_MS)) return null;
    this.dirty = false;
    this.flushedAt = now;
    return this.current;
  }
}
