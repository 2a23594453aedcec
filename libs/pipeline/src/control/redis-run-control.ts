import { type BatchJobData, type FailureRecord, jobId, type Keyspace } from '@cnsn/protocol';
import type { Queue } from 'bullmq';
import type { RedisClient } from '../redis/redis-connection.js';
import type { RunState } from '../run-state.js';
import { BATCH_JOB_OPTIONS } from './batch-job-options.js';
import type { JobState, RunControl } from './run-control.js';

const ALIVE = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** The control plane of one run on Redis: BullMQ jobs, the run's state, wake-ups on a list. */
export class RedisRunControl implements RunControl {
  private closed = false;

  constructor(
    private readonly o: {
      run: string;
      queue: Queue;
      state: RunState;
      keys: Keyspace;
      /** A connection of its own for BLPOP (it blocks). */
      blocking: RedisClient;
      /** The run's incarnation (its job ids carry it); absent for runs stored before incarnations. */
      incarnation?: string;
    },
  ) {}

  async submit(job: BatchJobData, again = false): Promise<void> {
    const id = jobId(this.o.run, job.seq, this.o.incarnation);
    if (again) {
      const existing = await this.o.queue.getJob(id);
      const state = existing ? await existing.getState() : 'missing';
      if (existing && !ALIVE.has(state)) await existing.remove().catch(() => undefined);
    }
    await this.o.queue.add('batch', job, { jobId: id, ...BATCH_JOB_OPTIONS });
  }

  async jobState(seq: number): Promise<JobState> {
    const job = await this.o.queue.getJob(jobId(this.o.run, seq, this.o.incarnation));
    if (!job) return 'missing';
    const state = await job.getState();
    if (ALIVE.has(state)) return 'alive';
    return state === 'unknown' ? 'missing' : 'finished';
  }

  recordEnqueued(seq: number, bytes: number): Promise<void> {
    return this.o.state.recordEnqueued(this.o.run, seq, bytes);
  }

  reject(record: FailureRecord): Promise<void> {
    return this.o.state.recordDriverFailure(this.o.run, record, true);
  }

  giveUp(record: FailureRecord): Promise<void> {
    return this.o.state.recordDriverFailure(this.o.run, record, false);
  }

  failure(seq: number): Promise<FailureRecord | null> {
    return this.o.state.failure(this.o.run, seq);
  }

  delivered(seq: number, skipped: boolean, bytesOut: number): Promise<void> {
    return this.o.state.recordDelivered(this.o.run, seq, skipped, bytesOut);
  }

  async waitForProgress(timeoutMs: number): Promise<boolean> {
    if (this.closed) return false;
    try {
      const woke = await this.o.blocking.blpop(
        this.o.keys.ready(this.o.run),
        Math.max(0.01, timeoutMs / 1000),
      );
      // One wake-up is enough: the collector re-checks the keys themselves.
      if (woke) await this.o.blocking.del(this.o.keys.ready(this.o.run));
      return woke !== null;
    } catch (err) {
      if (this.closed) return false;
      throw err;
    }
  }

  addParams(hash: string, json: string): Promise<void> {
    return this.o.state.addParams(this.o.run, hash, json);
  }

  markEnded(total: number): Promise<void> {
    return this.o.state.markEnded(this.o.run, total);
  }

  markFailed(): Promise<void> {
    return this.o.state.markFailed(this.o.run);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.o.blocking.disconnect();
  }
}
