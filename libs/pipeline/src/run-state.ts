import {
  FINISHED_RETENTION_S,
  type FailureRecord,
  type Keyspace,
  parseRunSpec,
  type RunSpec,
} from '@cnsn/protocol';
import { primaryNodes, type RedisClient } from './redis/redis-connection.js';
import type { ConsumerFigures } from './core/consumer-clock.js';
import type { RedisScripts } from './redis/scripts.js';

/** Throughput figures look this far back; older timeline entries are trimmed as workers finish. */
export const TIMELINE_WINDOW_MS = 120_000;

/** Largest preview PNG kept (a preview is a picture for people, not data). */
export const MAX_PREVIEW_BYTES = 4 * 1024 * 1024;

/** The fields of a run's hash: the only place their names are written. */
const FIELD = {
  spec: 'spec',
  enqueued: 'enqueued',
  delivered: 'delivered',
  failed: 'failed',
  skipped: 'skipped',
  total: 'total',
  bytesIn: 'bytesIn',
  bytesOut: 'bytesOut',
  state: 'state',
  previewSeq: 'previewSeq',
  endpoint: 'endpoint',
  secret: 'secret',
  digest: 'digest',
  consumerBatches: 'consumerBatches',
  consumerWaitMs: 'consumerWaitMs',
  consumerHoldMs: 'consumerHoldMs',
} as const;

/** What is kept of a finished run once its state is removed (FINISHED_RETENTION_S). */
export interface FinishedRun {
  run: string;
  /** Batches in the run, delivered in order (augmented, passed through or skipped). */
  total: number;
  failed: number;
  skipped: number;
  /** When its state was removed (ms). */
  finishedAt: number;
  /** The digest of its outputs, when its driver recorded one (`cnsn run` does). */
  digest: string | null;
}

/** A run's counters as stored. */
export interface RunCounters {
  /** Batches enqueued so far (the next batch number). */
  enqueued: number;
  /** Batches delivered to the driver in order (the collector's cursor). */
  delivered: number;
  /** Batches the workers finished, each counted once (results waiting or delivered). */
  done: number;
  failed: number;
  skipped: number;
  /** Total batches once the driver said there are no more; null while it may enqueue. */
  total: number | null;
  /** Tensor bytes the driver put on the data plane (inputs) and took from it (results). */
  bytesIn: number;
  bytesOut: number;
  state: 'open' | 'ended' | 'failed';
  /** The batch of the latest published preview, or null. */
  previewSeq: number | null;
  /** Direct plane: where the run's driver serves its batches now (a resumed driver moves it). */
  endpoint: string | null;
  /** How its consumer (the trainer) spent its time, since its driver opened the run; null before. */
  consumer: ConsumerFigures | null;
}

/**
 * A run's state in Redis: its spec, counters, failure records, throughput timeline, preview and
 * wake-ups. Every key it touches shares the control prefix's hash tag.
 */
export class RunState {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keyspace,
    private readonly scripts: RedisScripts,
  ) {}

  /** Creates a run; false when one with this id exists already. */
  async create(spec: RunSpec, paramsJson: string | null): Promise<boolean> {
    const key = this.keys.run(spec.run);
    if (!(await this.redis.hsetnx(key, FIELD.spec, JSON.stringify(spec)))) return false;
    const tx = this.redis
      .multi()
      .hset(key, {
        [FIELD.enqueued]: 0,
        [FIELD.delivered]: 0,
        [FIELD.failed]: 0,
        [FIELD.skipped]: 0,
        [FIELD.total]: -1,
        [FIELD.bytesIn]: 0,
        [FIELD.bytesOut]: 0,
        [FIELD.state]: 'open',
      })
      .sadd(this.keys.runs(), spec.run);
    await tx.exec();
    if (spec.selfnorm && paramsJson) await this.addParams(spec.run, spec.selfnorm.paramsHash, paramsJson);
    return true;
  }

  /**
   * Stores a SelfNorm parameter set for the run's jobs (once per content hash, shared between runs);
   * released with the run.
   */
  async addParams(run: string, hash: string, json: string): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.params(hash), json)
      .sadd(this.keys.paramsUsers(hash), run)
      .sadd(this.keys.runParams(run), hash)
      .exec();
  }

  /** The run's spec, or null when no such run is open. */
  async spec(run: string): Promise<RunSpec | null> {
    const text = await this.redis.hget(this.keys.run(run), FIELD.spec);
    return text === null ? null : parseRunSpec(text, this.keys.run(run));
  }

  async exists(run: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.run(run))) === 1;
  }

  /** Which of these runs still exist, in one round trip. */
  async existing(runs: string[]): Promise<boolean[]> {
    if (!runs.length) return [];
    const tx = this.redis.pipeline();
    for (const run of runs) tx.exists(this.keys.run(run));
    const replies = (await tx.exec()) ?? [];
    return runs.map((_, i) => replies[i]?.[1] === 1);
  }

  async counters(run: string): Promise<RunCounters | null> {
    const [h, done] = await Promise.all([
      this.redis.hgetall(this.keys.run(run)),
      this.redis.bitcount(this.keys.done(run)),
    ]);
    return h[FIELD.spec] ? countersFrom(h, done) : null;
  }

  /** Specs and counters of every open run. */
  async list(): Promise<Array<{ spec: RunSpec; counters: RunCounters }>> {
    const out: Array<{ spec: RunSpec; counters: RunCounters }> = [];
    for (const run of (await this.redis.smembers(this.keys.runs())).sort()) {
      const [h, done] = await Promise.all([
        this.redis.hgetall(this.keys.run(run)),
        this.redis.bitcount(this.keys.done(run)),
      ]);
      const text = h[FIELD.spec];
      if (!text) continue;
      out.push({ spec: parseRunSpec(text, this.keys.run(run)), counters: countersFrom(h, done) });
    }
    return out;
  }

  /** Batch `seq` went onto the data plane with `bytes` of input. */
  async recordEnqueued(run: string, seq: number, bytes: number): Promise<void> {
    await this.redis
      .multi()
      .hset(this.keys.run(run), FIELD.enqueued, seq + 1)
      .hincrby(this.keys.run(run), FIELD.bytesIn, bytes)
      .exec();
  }

  /**
   * The driver failed batch `seq` itself: it could not enqueue it (`atEnqueue`: the batch keeps its
   * number, so the next one is seq + 1), or gave up on it. Either way it fails like a batch a
   * worker refused.
   */
  async recordDriverFailure(run: string, record: FailureRecord, atEnqueue: boolean): Promise<void> {
    if (atEnqueue) await this.redis.hset(this.keys.run(run), FIELD.enqueued, record.seq + 1);
    await this.fail(run, record);
  }

  /** Batch `seq` was delivered (or skipped): the cursor moves past it and its failure record goes. */
  async recordDelivered(run: string, seq: number, skipped: boolean, bytesOut: number): Promise<void> {
    const tx = this.redis
      .multi()
      .hset(this.keys.run(run), FIELD.delivered, seq + 1)
      .unlink(this.keys.failure(run, seq));
    if (skipped) tx.hincrby(this.keys.run(run), FIELD.skipped, 1);
    if (bytesOut) tx.hincrby(this.keys.run(run), FIELD.bytesOut, bytesOut);
    await tx.exec();
  }

  /** A resumed run is open again and may enqueue (its total is unknown until it ends again). */
  async reopen(run: string): Promise<void> {
    await this.redis.hset(this.keys.run(run), { [FIELD.state]: 'open', [FIELD.total]: -1 });
  }

  async markEnded(run: string, total: number): Promise<void> {
    await this.redis.hset(this.keys.run(run), { [FIELD.total]: total, [FIELD.state]: 'ended' });
  }

  async markFailed(run: string): Promise<void> {
    await this.redis.hset(this.keys.run(run), FIELD.state, 'failed');
  }

  /** Direct plane: where the run's driver serves its batches now, and the run's secret. */
  async setEndpoint(run: string, url: string, secret: string): Promise<void> {
    await this.redis.hset(this.keys.run(run), { [FIELD.endpoint]: url, [FIELD.secret]: secret });
  }

  /** Direct plane: the run's secret (kept across resumes: jobs queued earlier carry it). */
  async secret(run: string): Promise<string | null> {
    return this.redis.hget(this.keys.run(run), FIELD.secret);
  }

  async endpoint(run: string): Promise<string | null> {
    return this.redis.hget(this.keys.run(run), FIELD.endpoint);
  }

  /** Records the digest of the run's outputs (kept in its finished record). */
  /** How the run's consumer spends its time; nothing once the run is gone. */
  async setConsumer(run: string, f: ConsumerFigures): Promise<void> {
    await this.scripts.setIfRun(this.keys.run(run), {
      [FIELD.consumerBatches]: f.batches,
      [FIELD.consumerWaitMs]: Math.round(f.waitMs * 1000) / 1000,
      [FIELD.consumerHoldMs]: Math.round(f.holdMs * 1000) / 1000,
    });
  }

  async setDigest(run: string, digest: string): Promise<void> {
    await this.redis.hset(this.keys.run(run), FIELD.digest, digest);
  }

  /** The record of a finished run whose state was removed, or null. */
  async finished(run: string): Promise<FinishedRun | null> {
    const h = await this.redis.hgetall(this.keys.finished(run));
    if (!h.total) return null;
    return {
      run,
      total: Number(h.total),
      failed: Number(h.failed ?? 0),
      skipped: Number(h.skipped ?? 0),
      finishedAt: Number(h.finishedAt ?? 0),
      digest: h.digest || null,
    };
  }

  /** Keeps the driver's latest preview PNG of the run (batch `seq`); the dashboard shows it. */
  async putPreview(run: string, seq: number, png: Uint8Array): Promise<void> {
    if (png.byteLength > MAX_PREVIEW_BYTES)
      throw new Error(`preview of batch ${seq}: ${png.byteLength} bytes exceeds ${MAX_PREVIEW_BYTES}`);
    await this.redis
      .multi()
      .set(this.keys.preview(run), Buffer.from(png.buffer, png.byteOffset, png.byteLength))
      .hset(this.keys.run(run), FIELD.previewSeq, seq)
      .exec();
  }

  async preview(run: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.preview(run));
  }

  /** A worker finished batch `seq`: counted once, timeline, wake-up. -1 when the run is gone. */
  complete(run: string, seq: number, now = Date.now()): Promise<number> {
    return this.scripts.complete(
      {
        run: this.keys.run(run),
        done: this.keys.done(run),
        timeline: this.keys.timeline(run),
        ready: this.keys.ready(run),
      },
      seq,
      now,
      now - TIMELINE_WINDOW_MS,
    );
  }

  /** Batch `seq` failed for good: its record is kept once, counted once. -1 when the run is gone. */
  fail(run: string, record: FailureRecord): Promise<number> {
    return this.scripts.fail(
      { run: this.keys.run(run), failure: this.keys.failure(run, record.seq), ready: this.keys.ready(run) },
      JSON.stringify(record),
      record.seq,
    );
  }

  /**
   * What a worker checks before it takes a batch, in one round trip: is the run still there, how far
   * has its driver got, and has the batch failed already.
   */
  async batchStatus(
    run: string,
    seq: number,
  ): Promise<{ exists: boolean; delivered: number; failed: boolean }> {
    const replies = await this.redis
      .pipeline()
      .hget(this.keys.run(run), FIELD.delivered)
      .exists(this.keys.failure(run, seq))
      .exec();
    const delivered = replies?.[0]?.[1] as string | null;
    return { exists: delivered !== null, delivered: Number(delivered ?? 0), failed: replies?.[1]?.[1] === 1 };
  }

  /** Batch `seq`'s failure record, or null. */
  async failure(run: string, seq: number): Promise<FailureRecord | null> {
    const text = await this.redis.get(this.keys.failure(run, seq));
    return text === null ? null : parseFailure(text, seq);
  }

  /** Removes batch `seq`'s failure record (a retry); true when there was one. */
  async retryFailure(run: string, seq: number): Promise<boolean> {
    return (
      (await this.scripts.retryFailed({ run: this.keys.run(run), failure: this.keys.failure(run, seq) })) ===
      1
    );
  }

  /** Completion times (ms) of the run's batches since `since`. */
  async timeline(run: string, since: number): Promise<number[]> {
    const flat = await this.redis.zrangebyscore(this.keys.timeline(run), since, '+inf', 'WITHSCORES');
    return flat.filter((_, i) => i % 2 === 1).map(Number);
  }

  /**
   * Removes everything of a finished run: its hash, wake-up list, records, and its share of the
   * SelfNorm parameters. BullMQ's job records follow its retention; the data plane drops its bytes.
   */
  async remove(run: string, spec: RunSpec | null): Promise<void> {
    await this.recordFinished(run);
    const hashes = new Set(await this.redis.smembers(this.keys.runParams(run)));
    if (spec?.selfnorm) hashes.add(spec.selfnorm.paramsHash);
    // The hash goes first: the scripts that workers run (complete, fail) write nothing once it is
    // gone, so a late completion (the direct plane hands a result over before its worker records
    // it) cannot re-create a key behind the scan below.
    await this.redis.unlink(this.keys.run(run));
    // SCAN is per server: on a cluster, every primary (the keys share one slot, so one holds them).
    for (const node of primaryNodes(this.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', this.keys.runPattern(run), 'COUNT', 500);
        cursor = next;
        // Only this run's keys: `run:ID` and `run:ID:...`, not `run:ID2`.
        const mine = keys.filter((k) => k === this.keys.run(run) || k.startsWith(`${this.keys.run(run)}:`));
        if (mine.length) await this.redis.unlink(...mine);
      } while (cursor !== '0');
    }
    await this.redis.srem(this.keys.runs(), run);
    for (const hash of hashes)
      await this.scripts.releaseParams(
        { params: this.keys.params(hash), users: this.keys.paramsUsers(hash) },
        run,
      );
  }

  /** A run that delivered every batch leaves its finished record (see FinishedRun). */
  private async recordFinished(run: string): Promise<void> {
    const h = await this.redis.hgetall(this.keys.run(run));
    const c = h[FIELD.spec] ? countersFrom(h, 0) : null;
    if (!c || c.total === null || c.delivered < c.total) return;
    await this.redis
      .multi()
      .hset(this.keys.finished(run), {
        total: c.total,
        failed: c.failed,
        skipped: c.skipped,
        finishedAt: Date.now(),
        digest: h[FIELD.digest] ?? '',
      })
      .expire(this.keys.finished(run), FINISHED_RETENTION_S)
      .exec();
  }
}

function countersFrom(h: Record<string, string>, done: number): RunCounters {
  const n = (k: string): number => Number(h[k] ?? 0);
  const total = n(FIELD.total);
  return {
    enqueued: n(FIELD.enqueued),
    delivered: n(FIELD.delivered),
    done,
    failed: n(FIELD.failed),
    skipped: n(FIELD.skipped),
    total: total < 0 ? null : total,
    bytesIn: n(FIELD.bytesIn),
    bytesOut: n(FIELD.bytesOut),
    state: (h[FIELD.state] as RunCounters['state']) ?? 'open',
    previewSeq: h[FIELD.previewSeq] === undefined ? null : Number(h[FIELD.previewSeq]),
    endpoint: h[FIELD.endpoint] ?? null,
    consumer:
      h[FIELD.consumerBatches] === undefined
        ? null
        : {
            batches: n(FIELD.consumerBatches),
            waitMs: n(FIELD.consumerWaitMs),
            holdMs: n(FIELD.consumerHoldMs),
          },
  };
}

function parseFailure(text: string, seq: number): FailureRecord {
  try {
    const f = JSON.parse(text) as FailureRecord;
    if (typeof f.reason === 'string') return f;
  } catch {
    // fall through
  }
  return { seq, reason: `unreadable failure record: ${text.slice(0, 200)}`, worker: 'unknown', at: 0 };
}
