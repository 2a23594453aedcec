import type { RunSpec } from '@cnsn/protocol';

/** Parameter sets a worker keeps at most (each a few KiB per channel count). */
export const MAX_PARAM_SETS = 32;

/** What a worker keeps of a run between its batches. */
interface CachedRun {
  spec: RunSpec;
  lastUsed: number;
  /** Batches of the run in hand now: a run is never forgotten under them. */
  active: number;
}

export interface RunCacheOptions {
  /** Reads a run's spec (null: the run is gone). */
  readSpec: (run: string) => Promise<RunSpec | null>;
  /** Reads a SelfNorm parameter set by content hash (null: gone). */
  readParams: (hash: string) => Promise<unknown>;
  /** Told when a run is forgotten, so the data planes drop what they hold for it (endpoints, connections). */
  onForget: (run: string) => void;
  /** A run with no batch for this long is forgotten (its driver may have vanished). @defaultValue 60000 */
  idleMs?: number;
  /** @defaultValue Date.now */
  now?: () => number;
}

/**
 * The worker's memory of runs: each run's spec and the SelfNorm parameter sets they use, read once
 * and kept while the run is busy. A run is forgotten when it ends (its state is gone from Redis) or
 * after `idleMs` without a batch, whichever comes first, so a worker that serves thousands of runs
 * over weeks holds only the ones it serves now. A forgotten run that comes back is read again.
 */
export class RunCache {
  private readonly runs = new Map<string, CachedRun>();
  /** Parameter sets by hash, with the runs that used them; at most MAX_PARAM_SETS, least recent go. */
  private readonly params = new Map<string, { params: unknown; runs: Set<string> }>();
  private readonly idleMs: number;
  private readonly now: () => number;

  constructor(private readonly o: RunCacheOptions) {
    this.idleMs = o.idleMs ?? 60_000;
    this.now = o.now ?? Date.now;
  }

  /** Runs and parameter sets held now. */
  get size(): { runs: number; params: number } {
    return { runs: this.runs.size, params: this.params.size };
  }

  /**
   * The run's spec, counted in use until `release`; null when the run is gone. A cached spec of
   * another incarnation of the run id (a new run under an old name) is read afresh.
   */
  async acquire(run: string, incarnation?: string): Promise<RunSpec | null> {
    let entry = this.runs.get(run);
    if (entry && incarnation && entry.spec.incarnation !== incarnation && !entry.active) {
      this.forget(run);
      entry = undefined;
    }
    if (!entry) {
      const spec = await this.o.readSpec(run);
      if (!spec) return null;
      entry = this.runs.get(run) ?? { spec, lastUsed: 0, active: 0 };
      this.runs.set(run, entry);
    }
    entry.active++;
    entry.lastUsed = this.now();
    return entry.spec;
  }

  release(run: string): void {
    const entry = this.runs.get(run);
    if (!entry) return;
    entry.active = Math.max(0, entry.active - 1);
    entry.lastUsed = this.now();
  }

  /**
   * A SelfNorm parameter set by content hash for a batch of `run`, read once and kept while a run
   * that used it is held (at most MAX_PARAM_SETS: a trainer that updates every batch makes many).
   */
  async paramsOf(hash: string, run: string): Promise<unknown> {
    let entry = this.params.get(hash);
    if (entry)
      this.params.delete(hash); // re-inserted below: the map's order is recency
    else entry = { params: await this.o.readParams(hash), runs: new Set() };
    entry.runs.add(run);
    this.params.set(hash, entry);
    for (const oldest of this.params.keys()) {
      if (this.params.size <= MAX_PARAM_SETS) break;
      this.params.delete(oldest);
    }
    return entry.params;
  }

  /**
   * Forgets runs that are idle too long or gone (`exists` answers for the runs asked, in one round
   * trip), and parameter sets no held run uses. Returns the runs forgotten.
   */
  async sweep(exists: (runs: string[]) => Promise<boolean[]>): Promise<string[]> {
    const now = this.now();
    const idle = [...this.runs].filter(([, e]) => !e.active);
    const forgotten = idle.filter(([, e]) => now - e.lastUsed >= this.idleMs).map(([run]) => run);
    const rest = idle.filter(([run]) => !forgotten.includes(run)).map(([run]) => run);
    if (rest.length) {
      const alive = await exists(rest);
      rest.forEach((run, i) => {
        // Still idle after the round trip: a batch that came meanwhile keeps its run.
        if (!alive[i] && !this.runs.get(run)?.active) forgotten.push(run);
      });
    }
    for (const run of forgotten) this.forget(run);
    this.dropUnusedParams();
    return forgotten;
  }

  private forget(run: string): void {
    this.runs.delete(run);
    this.o.onForget(run);
  }

  private dropUnusedParams(): void {
    for (const [hash, entry] of this.params) {
      for (const run of entry.runs) if (!this.runs.has(run)) entry.runs.delete(run);
      if (!entry.runs.size) this.params.delete(hash);
    }
  }
}
