/** Exponential backoff: the one retry loop of the pipeline (connections, OOM waits, reconnects). */
export interface BackoffOptions {
  /** First delay. @defaultValue 100 */
  initialMs?: number;
  /** Largest delay. @defaultValue 2000 */
  maxMs?: number;
  /** Stop retrying at this time (ms since the epoch); the last error is thrown. @defaultValue never */
  deadline?: number;
  /** True when the error is worth another try; others are thrown at once. @defaultValue every error */
  retryable?: (err: unknown) => boolean;
  /** True when the caller gave up (closed): the error is thrown at once. @defaultValue never */
  stopped?: () => boolean;
  /** Told before each wait: the error, the attempt number (1 for the first failure) and the delay. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Runs `attempt` until it succeeds, waiting 100, 200, 400... ms (capped) between tries. */
export async function withBackoff<T>(attempt: () => Promise<T>, options: BackoffOptions = {}): Promise<T> {
  const max = options.maxMs ?? 2000;
  let delay = options.initialMs ?? 100;
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      if (options.stopped?.()) throw err;
      if (options.retryable && !options.retryable(err)) throw err;
      const left = options.deadline === undefined ? Infinity : options.deadline - Date.now();
      if (left <= 0) throw err;
      const wait = Math.min(delay, left);
      options.onRetry?.(err, tries, wait);
      await sleep(wait);
      delay = Math.min(delay * 2, max);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Calls `log` at most once per `periodMs` (retry notices: one line a second, not one per try). */
export function throttled<A extends unknown[]>(
  periodMs: number,
  log: (...args: A) => void,
): (...args: A) => void {
  let last = -Infinity;
  return (...args: A) => {
    const now = Date.now();
    if (now - last < periodMs) return;
    last = now;
    log(...args);
  };
}
