import { describe, expect, it } from 'vitest';
import { BufferPool, Lifecycle, type LifecycleState } from '../src/index.js';

// Lets every promise that can settle settle (no timer: nothing here depends on a time window).
const tick = () => new Promise((r) => setImmediate(r));

describe('Lifecycle', () => {
  it('refuses a second start, and a start after a stop', async () => {
    const life = new Lifecycle('w');
    await life.start(async () => undefined);
    await expect(life.start(async () => undefined)).rejects.toThrow('w: start() called when running');
    await life.stop(() => []);
    await expect(life.start(async () => undefined)).rejects.toThrow('w: start() called when stopped');
  });

  it('every caller of stop awaits the same stop, which runs its steps once', async () => {
    const life = new Lifecycle('w');
    await life.start(async () => undefined);
    let runs = 0;
    let release!: () => void;
    const draining = new Promise<void>((r) => (release = r));
    const steps = () => [['drain', async () => (runs++, await draining)] as const];
    const first = life.stop(steps);
    const second = life.stop(steps);
    expect(second).toBe(first);
    let settled = false;
    void second.then(() => (settled = true));
    await tick();
    expect(settled).toBe(false); // the second caller waits for the drain too
    release();
    await Promise.all([first, second]);
    expect(runs).toBe(1);
    expect(life.state).toBe('stopped');
  });

  it('a stop during start waits for the start, then stops', async () => {
    const states: LifecycleState[] = [];
    const life = new Lifecycle('w', (s) => states.push(s));
    let finishStart!: () => void;
    const starting = life.start(() => new Promise<void>((r) => (finishStart = r)));
    const cleaned: string[] = [];
    const stopping = life.stop(() => [['close', () => cleaned.push('close')]]);
    await tick();
    expect(cleaned).toEqual([]); // not while the start is under way
    finishStart();
    await Promise.all([starting, stopping]);
    expect(cleaned).toEqual(['close']);
    expect(states).toEqual(['starting', 'stopping', 'stopped']);
  });

  it('a start stuck on a server that is gone holds the stop at most startWaitMs, then the steps run', async () => {
    const life = new Lifecycle('w');
    void life.start(() => new Promise<void>(() => undefined)); // never ends (Redis gone mid-start)
    const ran: string[] = [];
    const t0 = Date.now();
    await life.stop(() => [['close', () => void ran.push('close')]], { startWaitMs: 50 });
    expect(ran).toEqual(['close']);
    expect(life.stopRequested).toBe(true);
    expect(life.state).toBe('stopped');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('runs every cleanup step whatever the others do, and reports the failures together', async () => {
    const life = new Lifecycle('worker w1');
    await life.start(async () => undefined);
    const ran: string[] = [];
    const stop = life.stop(() => [
      [
        'finish the batches',
        () => {
          ran.push('a');
          throw new Error('queue gone');
        },
      ],
      ['stop the heartbeat', () => ran.push('b')],
      [
        'release the backend',
        async () => {
          ran.push('c');
          throw new Error('device lost');
        },
      ],
      ['close the connection', () => ran.push('d')],
    ]);
    await expect(stop).rejects.toThrow(
      'worker w1: 2 cleanup step(s) failed: finish the batches: queue gone; release the backend: device lost',
    );
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
    expect(life.state).toBe('stopped');
  });

  it('a stop before any start just stops', async () => {
    const life = new Lifecycle('w');
    let ran = false;
    await life.stop(() => [['x', () => (ran = true)]]);
    expect(ran).toBe(false);
    expect(life.state).toBe('stopped');
  });
});

describe('BufferPool', () => {
  it('with reuse, gives back buffers that serve later batches; counts what is out', () => {
    const pool = new BufferPool(true);
    const a = pool.take(100);
    const b = pool.take(50);
    expect(pool.outstanding).toBe(2);
    pool.give(a);
    const c = pool.take(80); // fits in a's buffer
    expect(c.buffer).toBe(a.buffer);
    expect(c.length).toBe(80);
    pool.give(b);
    pool.give(b); // twice: no-op
    pool.give(new Uint8Array(4)); // foreign: no-op
    expect(pool.outstanding).toBe(1);
    expect(pool.highWater).toBe(2);
  });

  it('without reuse, every take is a new buffer the consumer keeps', () => {
    const pool = new BufferPool(false);
    const a = pool.take(10);
    pool.give(a);
    expect(pool.take(10).buffer).not.toBe(a.buffer);
  });
});
