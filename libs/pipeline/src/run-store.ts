import { type Keyspace, parseRunSpec, type RunSpec } from '@cnsn/protocol';
import type { Redis } from 'ioredis';

/** A run's counters as stored in its hash. */
export interface RunCounters {
  /** Batches enqueued so far (the next batch number). */
  enqueued: number;
  /** Batches delivered to the driver in order (the collector's cursor). */
  delivered: number;
  /** Batches the workers finished (results waiting in Redis or delivered). */
  done: number;
  failed: number;
  skipped: number;
  /** Total batches once the driver said there are no more; null while it may enqueue. */
  total: number | null;
  bytesIn: number;
  state: 'open' | 'ended' | 'failed';
  /** The batch of the latest published preview (see `putPreview`), or null. */
  previewSeq: number | null;
}

/** Largest preview PNG kept (a preview is a picture for people, not data). */
export const MAX_PREVIEW_BYTES = 4 * 1024 * 1024;

// Deletes the parameters when the last run using them goes: one atomic step.
const RELEASE_PARAMS = `
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0`;

/** Reads and writes runs' specs and counters in Redis. */
export class RunStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keyspace,
  ) {}

  /** Creates a run; false when one with this id exists already. */
  async create(spec: RunSpec, paramsJson: string | null): Promise<boolean> {
    const key = this.keys.run(spec.run);
    const created = await this.redis.hsetnx(key, 'spec', JSON.stringify(spec));
    if (!created) return false;
    const tx = this.redis
      .multi()
      .hset(key, {
        enqueued: 0,
        delivered: 0,
        done: 0,
        failed: 0,
        skipped: 0,
        total: -1,
        bytesIn: 0,
        state: 'open',
      })
      .sadd(this.keys.runs(), spec.run);
    if (spec.selfnorm && paramsJson) {
      tx.set(this.keys.params(spec.selfnorm.paramsHash), paramsJson).sadd(
        this.keys.paramsUsers(spec.selfnorm.paramsHash),
        spec.run,
      );
    }
    await tx.exec();
    return true;
  }

  /** The run's spec, or null when no such run is open. */
  async spec(run: string): Promise<RunSpec | null> {
    const text = await this.redis.hget(this.keys.run(run), 'spec');
    return text === null ? null : parseRunSpec(text, this.keys.run(run));
  }

  async counters(run: string): Promise<RunCounters | null> {
    const h = await this.redis.hgetall(this.keys.run(run));
    if (!h.spec) return null;
    return countersFrom(h);
  }

  /** Specs and counters of every open run. */
  async list(): Promise<Array<{ spec: RunSpec; counters: RunCounters }>> {
    const runs = await this.redis.smembers(this.keys.runs());
    const out: Array<{ spec: RunSpec; counters: RunCounters }> = [];
    for (const run of runs.sort()) {
      const h = await this.redis.hgetall(this.keys.run(run));
      if (!h.spec) continue;
      out.push({ spec: parseRunSpec(h.spec, this.keys.run(run)), counters: countersFrom(h) });
    }
    return out;
  }

  /** Keeps the driver's latest preview PNG of the run (batch `seq`); the dashboard shows it. */
  async putPreview(run: string, seq: number, png: Uint8Array): Promise<void> {
    if (png.byteLength > MAX_PREVIEW_BYTES)
      throw new Error(`preview of batch ${seq}: ${png.byteLength} bytes exceeds ${MAX_PREVIEW_BYTES}`);
    await this.redis
      .multi()
      .set(this.keys.preview(run), Buffer.from(png.buffer, png.byteOffset, png.byteLength))
      .hset(this.keys.run(run), 'previewSeq', seq)
      .exec();
  }

  /** The run's latest preview PNG, or null. */
  async preview(run: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.preview(run));
  }

  async markEnded(run: string, total: number): Promise<void> {
    await this.redis.hset(this.keys.run(run), { total, state: 'ended' });
  }

  async markFailed(run: string): Promise<void> {
    await this.redis.hset(this.keys.run(run), 'state', 'failed');
  }

  /**
   * Removes everything of a finished run: its hash, wake-up list, leftover batch keys, and its
   * share of the SelfNorm parameters. BullMQ's own job records follow its retention settings.
   */
  async remove(run: string, spec: RunSpec | null): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', this.keys.runPattern(run), 'COUNT', 500);
      cursor = next;
      // Only this run's keys: `run:ID` and `run:ID:...`, not `run:ID2`.
      const mine = keys.filter((k) => k === this.keys.run(run) || k.startsWith(`${this.keys.run(run)}:`));
      if (mine.length) await this.redis.unlink(...mine);
    } while (cursor !== '0');
    await this.redis.srem(this.keys.runs(), run);
    if (spec?.selfnorm) {
      const hash = spec.selfnorm.paramsHash;
      await this.redis.eval(RELEASE_PARAMS, 2, this.keys.params(hash), this.keys.paramsUsers(hash), run);
    }
  }
}

function countersFrom(h: Record<string, string>): RunCounters {
  const n = (k: string): number => Number(h[k] ?? 0);
  const total = n('total');
  return {
    enqueued: n('enqueued'),
    delivered: n('delivered'),
    done: n('done'),
    failed: n('failed'),
    skipped: n('skipped'),
    total: total < 0 ? null : total,
    bytesIn: n('bytesIn'),
    state: (h.state as RunCounters['state']) ?? 'open',
    previewSeq: h.previewSeq === undefined ? null : Number(h.previewSeq),
  };
}
