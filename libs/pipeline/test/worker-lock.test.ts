import { describe, expect, it } from 'vitest';
import { WORKER_LOCK, workerLock } from '../src/worker-runtime.js';

describe("the workers' BullMQ lock settings", () => {
  it.each([1000, 8000, 30_000])(
    'follow from a lock of %i ms: renewed and checked at half its life, never later',
    (lockDuration) => {
      const lock = workerLock(lockDuration);
      expect(lock.lockDuration).toBe(lockDuration);
      // BullMQ renews a lock once it is older than half lockRenewTime: well inside the lock's life.
      expect(lock.lockRenewTime).toBeLessThanOrEqual(lockDuration / 2);
      expect(lock.lockRenewTime).toBeGreaterThan(0);
      expect(lock.stalledInterval).toBeLessThan(lockDuration);
    },
  );

  it('are the product’s: an 8 s lock, renewed every 4 s, checked every 4 s, 3 stalls allowed', () => {
    expect(WORKER_LOCK).toEqual({
      lockDuration: 8000,
      lockRenewTime: 4000,
      stalledInterval: 4000,
      maxStalledCount: 3,
    });
  });
});
