import { buildRunSpec, type RunSpec } from '@cnsn/protocol';
import { describe, expect, it } from 'vitest';
import { RunCache } from '../src/worker/run-cache.js';

const params = { gWeight: [1, 2], gBias: [0, 0] };

function setup(idleMs = 1000) {
  let now = 0;
  const specs = new Map<string, RunSpec>();
  const forgotten: string[] = [];
  let reads = 0;
  const cache = new RunCache({
    readSpec: async (run) => {
      reads++;
      return specs.get(run) ?? null;
    },
    readParams: async () => params,
    onForget: (run) => forgotten.push(run),
    idleMs,
    now: () => now,
  });
  const add = (run: string): RunSpec => {
    const { spec } = buildRunSpec({}, run, 'direct');
    specs.set(run, spec);
    return spec;
  };
  const exists = async (runs: string[]) => runs.map((r) => specs.has(r));
  return { cache, specs, forgotten, add, exists, reads: () => reads, tick: (ms: number) => (now += ms) };
}

describe('the worker run cache', () => {
  it('forgets a run once it is gone from Redis, but never while a batch of it is in hand', async () => {
    const t = setup();
    t.add('a');
    t.add('b');
    await t.cache.acquire('a');
    await t.cache.acquire('b');
    t.cache.release('b');
    t.specs.delete('a');
    t.specs.delete('b');
    expect(await t.cache.sweep(t.exists)).toEqual(['b']);
    expect(t.cache.size.runs).toBe(1);
    t.cache.release('a');
    expect(await t.cache.sweep(t.exists)).toEqual(['a']);
    expect(t.forgotten).toEqual(['b', 'a']);
    expect(t.cache.size.runs).toBe(0);
  });

  it('forgets a run idle past idleMs (a driver that vanished); it is read again when it comes back', async () => {
    const t = setup(1000);
    t.add('a');
    await t.cache.acquire('a');
    t.cache.release('a');
    t.tick(999);
    expect(await t.cache.sweep(t.exists)).toEqual([]);
    t.tick(1);
    expect(await t.cache.sweep(t.exists)).toEqual(['a']);
    expect(await t.cache.acquire('a')).not.toBeNull();
    expect(t.reads()).toBe(2);
  });

  it('reads a new incarnation of a run id afresh', async () => {
    const t = setup();
    const first = t.add('a');
    expect((await t.cache.acquire('a', first.incarnation))?.incarnation).toBe(first.incarnation);
    t.cache.release('a');
    const second = t.add('a');
    expect((await t.cache.acquire('a', second.incarnation))?.incarnation).toBe(second.incarnation);
    expect(t.forgotten).toEqual(['a']);
  });

  it('keeps parameter sets only while a held run uses them', async () => {
    const t = setup();
    t.add('a');
    await t.cache.acquire('a');
    await t.cache.paramsOf('h1', 'a');
    expect(t.cache.size.params).toBe(1);
    t.cache.release('a');
    t.specs.delete('a');
    await t.cache.sweep(t.exists);
    expect(t.cache.size).toEqual({ runs: 0, params: 0 });
  });
});
