/**
 * BullMQ options of every batch job. The attempts and backoff are also how long a worker waits for
 * an input that is missing (Redis lost it, or the driver is restarting): each attempt that finds no
 * input is retried after 0.5, 1, 2, 4, 8 s (about 15 s in all); the last one fails the batch. A
 * batch given up this way is queued again by the driver when it notices (core/producer.ts).
 */
export const BATCH_JOB_OPTIONS = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 5000 },
} as const;

/** True on a job's last attempt: a missing input then fails the batch instead of waiting longer. */
export function isLastAttempt(job: { attemptsMade: number; opts: { attempts?: number } }): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}
