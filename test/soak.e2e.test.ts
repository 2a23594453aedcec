import { expect, it } from 'vitest';
import { BATCH_JOB_OPTIONS } from '@cnsn/pipeline';
import { soak } from './soak.js';
import { soakRuns, withinBounds } from './soak-runs.js';

it('a short chaos run (worker SIGKILLs and a Redis restart) loses, duplicates and changes nothing', async () => {
  const lines: string[] = [];
  const report = await soak({
    batches: 60,
    shape: [4, 32, 14, 14],
    workers: 2,
    killEverySec: 2.5,
    redisRestartAt: 0.5,
    maxSeconds: 150,
    seed: 7,
    log: (line) => lines.push(line),
  });
  expect(report, lines.join('\n')).toMatchObject({
    batches: 60,
    delivered: 60,
    lost: 0,
    duplicated: 0,
    redisRestarts: 1,
    digestOk: true,
  });
  expect(report.workerKills).toBeGreaterThan(0);
}, 180_000);

it("on a Redis Cluster, with the queue's primary SIGKILLed: loses, duplicates and changes nothing", async () => {
  const lines: string[] = [];
  const report = await soak({
    batches: 60,
    shape: [4, 32, 14, 14],
    workers: 2,
    killEverySec: 2.5,
    redisRestartAt: 0.5,
    maxSeconds: 150,
    seed: 8,
    cluster: true,
    log: (line) => lines.push(line),
  });
  expect(report, lines.join('\n')).toMatchObject({
    batches: 60,
    delivered: 60,
    lost: 0,
    duplicated: 0,
    primaryKills: 1,
    digestOk: true,
  });
}, 180_000);

it('a long-lived pool: 2 workers serve 300 short runs (both planes, shapes varying, drivers SIGKILLed and resumed) with flat memory and nothing left in Redis', async () => {
  const lines: string[] = [];
  const report = await soakRuns({ runs: 300, killEvery: 30, log: (line) => lines.push(line) });
  expect(withinBounds(report), JSON.stringify(report)).toEqual([]);
  expect(report.killedDrivers).toBe(10);
  expect(report.final.map((f) => f.runsHeld)).toEqual([0, 0]);
  // BullMQ's own retention: at most removeOnComplete's count of completed jobs.
  expect(report.jobRecords).toBeLessThanOrEqual(BATCH_JOB_OPTIONS.removeOnComplete.count);
}, 600_000);
