import { describe, expect, it } from 'vitest';
import { CONSUMER_FLUSH_MS, ConsumerClock } from '../src/core/consumer-clock.js';

describe('ConsumerClock', () => {
  it('splits the consumer time into waits for batches and holds of them', () => {
    const clock = new ConsumerClock();
    clock.ask(0);
    clock.handOver(30); // waited 30
    clock.ask(100); // held 70
    clock.handOver(105); // waited 5
    clock.ask(125); // held 20
    expect(clock.current).toEqual({ batches: 2, waitMs: 35, holdMs: 90 });
  });

  it("takes a client's own totals instead of its own measure, once reported", () => {
    const clock = new ConsumerClock();
    clock.ask(0);
    clock.handOver(10);
    clock.report({ batches: 5, waitMs: 1, holdMs: 2 });
    clock.ask(50);
    clock.handOver(60);
    expect(clock.current).toEqual({ batches: 5, waitMs: 1, holdMs: 2 });
    expect(() => clock.report({ batches: 1, waitMs: Number.NaN, holdMs: 0 })).toThrow(/waitMs/);
  });

  it('is due for writing when it changed, at most once a flush period unless forced', () => {
    const clock = new ConsumerClock();
    expect(clock.due(false, 0)).toBeNull();
    clock.ask(0);
    clock.handOver(1);
    expect(clock.due(false, CONSUMER_FLUSH_MS)).toEqual({ batches: 1, waitMs: 1, holdMs: 0 });
    clock.ask(2);
    clock.handOver(3);
    expect(clock.due(false, CONSUMER_FLUSH_MS + 10)).toBeNull();
    expect(clock.due(true, CONSUMER_FLUSH_MS + 10)?.batches).toBe(2);
    expect(clock.due(true, CONSUMER_FLUSH_MS + 20)).toBeNull();
  });
});
