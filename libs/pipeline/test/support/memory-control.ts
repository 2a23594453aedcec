import type { BatchJobData, FailureRecord } from '@cnsn/protocol';
import type { JobState, RunControl } from '../../src/index.js';

/** One job as the simulated queue holds it. */
export interface MemoryJob {
  job: BatchJobData;
  state: JobState;
  /** How many times it was submitted (1 + times queued again). */
  rounds: number;
}

/**
 * The control plane in memory, for the core's unit tests: a queue of jobs the simulated workers
 * take, failure records, a cursor, and wake-ups. `onSubmit` is how the simulation learns of jobs.
 */
export class MemoryControl implements RunControl {
  readonly jobs = new Map<number, MemoryJob>();
  readonly failures = new Map<number, FailureRecord>();
  readonly deliveredSeqs: number[] = [];
  /** Times each batch's job was queued (first time and every time again). */
  readonly submissions = new Map<number, number>();
  cursor = 0;
  total: number | null = null;
  failed = false;
  closed = false;
  onSubmit: (job: MemoryJob) => void = () => undefined;
  private waiters: Array<(woke: boolean) => void> = [];
  private pending = false;

  async submit(job: BatchJobData, again = false): Promise<void> {
    const existing = this.jobs.get(job.seq);
    if (existing && (existing.state === 'alive' || !again) && existing.state !== 'missing') return;
    const entry: MemoryJob = { job, state: 'alive', rounds: (existing?.rounds ?? 0) + 1 };
    this.jobs.set(job.seq, entry);
    this.submissions.set(job.seq, (this.submissions.get(job.seq) ?? 0) + 1);
    this.onSubmit(entry);
  }

  async jobState(seq: number): Promise<JobState> {
    return this.jobs.get(seq)?.state ?? 'missing';
  }

  enqueuedBytes = 0;

  async recordEnqueued(_seq: number, bytes: number): Promise<void> {
    this.enqueuedBytes += bytes;
  }

  async reject(record: FailureRecord): Promise<void> {
    this.failures.set(record.seq, record);
    this.signal();
  }

  async giveUp(record: FailureRecord): Promise<void> {
    this.failures.set(record.seq, record);
    this.signal();
  }

  async failure(seq: number): Promise<FailureRecord | null> {
    return this.failures.get(seq) ?? null;
  }

  async delivered(seq: number): Promise<void> {
    if (seq !== this.cursor) throw new Error(`delivered ${seq} while the cursor is at ${this.cursor}`);
    this.deliveredSeqs.push(seq);
    this.cursor = seq + 1;
    this.failures.delete(seq);
  }

  waitForProgress(timeoutMs: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = (woke: boolean): void => {
        clearTimeout(timer);
        resolve(woke);
      };
      this.waiters.push(wake);
    });
  }

  readonly params = new Map<string, string>();

  async addParams(hash: string, json: string): Promise<void> {
    this.params.set(hash, json);
  }

  async markEnded(total: number): Promise<void> {
    this.total = total;
  }

  async markFailed(): Promise<void> {
    this.failed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(false);
  }

  /** A worker finished something: wake the collector (or remember it, as the list does). */
  signal(): void {
    const waiters = this.waiters.splice(0);
    if (!waiters.length) this.pending = true;
    for (const w of waiters) w(true);
  }
}
