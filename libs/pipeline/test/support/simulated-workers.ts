import { decodeTensorBlob, encodeTensorBlobParts, type ResultMeta } from '@cnsn/protocol';
import type { MemoryControl, MemoryJob } from './memory-control.js';
import type { MemoryDriverPlane } from './memory-plane.js';

/** What happens to one attempt at a batch (fast-check draws these). */
export type Attempt =
  /** Done: the result reaches the driver, perhaps twice (a redone job, a retried send). */
  | { kind: 'ok'; delay: number; duplicate: boolean }
  /** The job finishes but its result never arrives (Redis lost it; a send that died). */
  | { kind: 'drop-result'; delay: number }
  /** The job itself vanishes (Redis lost it in a restart). */
  | { kind: 'lose-job'; delay: number }
  /** The input vanishes from the plane; the job waits for it (BullMQ's retries). */
  | { kind: 'lose-input'; delay: number }
  /** The worker dies holding it: after the stall another attempt runs. */
  | { kind: 'crash'; delay: number }
  /** Bad input: the batch fails for good. */
  | { kind: 'bad-input'; delay: number };

/** The augmentation the simulated workers apply: y = 2x + 1 (checkable, and not the identity). */
export function simulatedAugment(x: Float32Array): Float32Array {
  return x.map((v) => 2 * v + 1);
}

/**
 * Workers in memory: each submitted job runs its batch's scripted attempts in turn (after the script,
 * attempts succeed). Many jobs run at once, each with its own delays, so results come out of order.
 */
export class SimulatedWorkers {
  private readonly used = new Map<number, number>();
  stopped = false;

  constructor(
    private readonly plane: MemoryDriverPlane,
    private readonly control: MemoryControl,
    private readonly script: (seq: number) => readonly Attempt[],
  ) {
    control.onSubmit = (entry) => void this.run(entry);
  }

  /** The outcome a batch's script leads to: the first attempt that ends it. */
  static outcome(attempts: readonly Attempt[]): 'ok' | 'failed' {
    for (const a of attempts) {
      if (a.kind === 'ok') return 'ok';
      if (a.kind === 'bad-input') return 'failed';
    }
    return 'ok';
  }

  private next(seq: number): Attempt {
    const i = this.used.get(seq) ?? 0;
    this.used.set(seq, i + 1);
    return this.script(seq)[i] ?? { kind: 'ok', delay: 0, duplicate: false };
  }

  private async run(entry: MemoryJob): Promise<void> {
    const { seq } = entry.job;
    const current = (): boolean => !this.stopped && this.control.jobs.get(seq) === entry;
    for (let attempt = this.next(seq); ;) {
      await sleep(attempt.delay);
      if (!current()) return;
      switch (attempt.kind) {
        case 'ok': {
          const input = this.plane.inputs.get(seq);
          if (!input) {
            await sleep(2); // waiting for the input, as a worker's retries do
            continue;
          }
          const blob = decodeTensorBlob(input, `input ${seq}`);
          const meta: ResultMeta = {
            seq,
            status: 'ok',
            plan: { seq },
            selfnormStats: null,
            backend: 'sim',
            worker: 'sim',
          };
          const parts = encodeTensorBlobParts({ shape: blob.shape, data: simulatedAugment(blob.data), meta });
          const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
          joined.set(parts[0] as Uint8Array);
          joined.set(parts[1] as Uint8Array, (parts[0] as Uint8Array).byteLength);
          this.plane.receive(seq, joined);
          if (attempt.duplicate) this.plane.receive(seq, joined);
          entry.state = 'finished';
          this.control.signal();
          return;
        }
        case 'drop-result':
          entry.state = 'finished';
          return;
        case 'lose-job':
          this.control.jobs.delete(seq);
          return;
        case 'lose-input':
          this.plane.inputs.delete(seq);
          break;
        case 'crash':
          break;
        case 'bad-input':
          this.control.failures.set(seq, { seq, reason: `batch ${seq} is bad`, worker: 'sim', at: 0 });
          entry.state = 'finished';
          this.control.signal();
          return;
      }
      attempt = this.next(seq);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
