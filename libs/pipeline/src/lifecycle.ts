import { within } from './within.js';

/** The life of a long-running component (a worker runtime). */
export type LifecycleState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

/** One cleanup step of a stop: each runs whatever the others did. */
export type CleanupStep = readonly [name: string, run: () => unknown];

/**
 * Guarded transitions, as BullMQ's Worker keeps them: `start` once (a second call is refused),
 * `stop` any number of times and from any state, every caller awaiting the same stop. A stop during
 * start waits for the start to end, then stops. The cleanup steps run one by one, each in its own
 * try, and their failures are reported together at the end.
 */
export class Lifecycle {
  private current: LifecycleState = 'idle';
  private starting: Promise<void> | null = null;
  private stopping: Promise<void> | null = null;
  private step: string | null = null;

  constructor(
    private readonly name: string,
    private readonly onState: (state: LifecycleState) => void = () => undefined,
  ) {}

  get state(): LifecycleState {
    return this.current;
  }

  /** The cleanup step a stop is in now (for a stop that overruns its bound), or null. */
  get stoppingStep(): string | null {
    return this.step;
  }

  /** Runs `begin` once. Throws when started before, or stopped. */
  async start(begin: () => Promise<void>): Promise<void> {
    if (this.current !== 'idle') throw new Error(`${this.name}: start() called when ${this.current}`);
    this.set('starting');
    this.starting = begin();
    try {
      await this.starting;
    } catch (err) {
      if (!this.stopping) this.set('stopped');
      throw err;
    }
    // A stop that came during the start proceeds on its own.
    if (!this.stopping) this.set('running');
  }

  /**
   * Runs the cleanup steps once; every call returns the same promise. A start under way is waited
   * for, at most `startWaitMs` (a start stuck on a server that is gone must not hold the stop).
   */
  stop(steps: () => readonly CleanupStep[], options: { startWaitMs?: number } = {}): Promise<void> {
    this.stopping ??= this.runStop(steps, options.startWaitMs ?? Infinity);
    return this.stopping;
  }

  /** True once a stop was asked for: a start still under way should go no further. */
  get stopRequested(): boolean {
    return this.stopping !== null;
  }

  private async runStop(steps: () => readonly CleanupStep[], startWaitMs: number): Promise<void> {
    if (this.starting) await within(this.starting, startWaitMs);
    if (this.current === 'idle') {
      this.set('stopped');
      return;
    }
    this.set('stopping');
    try {
      await runCleanup(this.name, steps(), (name) => (this.step = name));
    } finally {
      this.step = null;
      this.set('stopped');
    }
  }

  private set(state: LifecycleState): void {
    this.current = state;
    this.onState(state);
  }
}

/**
 * Runs cleanup steps in order, each whatever the others did, then rejects naming every step that
 * failed (`WHAT: 2 cleanup step(s) failed: a: why; b: why`). The one way the worker, the pipeline
 * and a run close their parts. `onStep` is told each step's name as it starts.
 */
export async function runCleanup(
  what: string,
  steps: readonly CleanupStep[],
  onStep: (name: string) => void = () => undefined,
): Promise<void> {
  const failures: string[] = [];
  for (const [name, run] of steps) {
    onStep(name);
    try {
      await run();
    } catch (err) {
      failures.push(`${name}: ${(err as Error).message}`);
    }
  }
  if (failures.length)
    throw new Error(`${what}: ${failures.length} cleanup step(s) failed: ${failures.join('; ')}`);
}
