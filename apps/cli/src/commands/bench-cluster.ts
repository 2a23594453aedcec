import { writeFile } from 'node:fs/promises';
import { netnsUnavailable } from '@cnsn/infra';
import { Command } from 'commander';
import { renderClusterPlot } from '../bench/cluster-plot.js';
import { type ClusterRow, type ClusterRowSpec, clusterRow } from '../bench/cluster-row.js';
import { SYNTHETIC_EAGER_BYTES } from '../batch-source.js';
import { CliError } from '../cli-error.js';
import { parsePositiveInt, parseShape } from '../parse-options.js';

interface BenchClusterFlags {
  linkMbit: number;
  shape: number[];
  batches: number;
  backend: string;
  workerConcurrency: number;
  json?: boolean;
  plot?: string;
}

/** The rows: worker hosts 1, 2 and 4 and both planes; a 16-bit wire; two drivers on two hosts. */
const ROWS: ClusterRowSpec[] = [
  { plane: 'direct', wire: 'float32', drivers: 1, workerHosts: 1 },
  { plane: 'direct', wire: 'float32', drivers: 1, workerHosts: 2 },
  { plane: 'direct', wire: 'float32', drivers: 1, workerHosts: 4 },
  { plane: 'redis', wire: 'float32', drivers: 1, workerHosts: 2 },
  { plane: 'redis', wire: 'float32', drivers: 1, workerHosts: 4 },
  { plane: 'direct', wire: 'bfloat16', drivers: 1, workerHosts: 2 },
  { plane: 'direct', wire: 'float32', drivers: 2, workerHosts: 4 },
];

/**
 * `cnsn bench cluster`: the pipeline across hosts, on this machine: each host a network namespace,
 * each link shaped to `--link-mbit` (1 Gbit: slow enough that the 2 cores are not the limit).
 */
export function benchClusterCommand(): Command {
  return new Command('cluster')
    .description(
      'throughput across hosts in network namespaces with shaped links (root): planes, workers, drivers, wire',
    )
    .option('--link-mbit <m>', 'rate of every host link, each way', parsePositiveInt, 1000)
    .option('--shape <N,C,H,W>', 'batch shape', parseShape, [64, 512, 7, 7])
    .option(
      '--batches <k>',
      'batches per driver and row (all made before the clock: at most 256 MiB)',
      parsePositiveInt,
      36,
    )
    .option('--backend <name>', "the workers' backend", 'fused')
    .option('--worker-concurrency <n>', 'batches each worker takes at once', parsePositiveInt, 1)
    .option('--json', 'last line of stdout: the rows as JSON')
    .option('--plot <file>', 'also draw the rows as a PNG')
    .action(async (flags: BenchClusterFlags) => {
      const bytes = flags.shape.reduce((a, b) => a * b, 1) * 4;
      // Batches made during a run take its driver's CPU while the links keep going, and the time
      // spent making them is subtracted: the figures would be too fast. So all are made first.
      if (bytes * flags.batches > SYNTHETIC_EAGER_BYTES)
        throw new CliError(
          `--batches ${flags.batches}: at most ${Math.floor(SYNTHETIC_EAGER_BYTES / bytes)} batches of ${flags.shape.join('x')} (256 MiB, made before the clock)`,
        );
      const why = netnsUnavailable();
      if (why) throw new CliError(`bench cluster needs network namespaces: ${why}`, 1);
      const rows: ClusterRow[] = [];
      for (const spec of ROWS) {
        const row = await clusterRow(spec, flags);
        rows.push(row);
        process.stderr.write(`${describe(row)}\n`);
      }
      const linkGbit = flags.linkMbit / 1000;
      reportGoals(rows, linkGbit);
      if (flags.plot) await writeFile(flags.plot, renderClusterPlot(rows, linkGbit));
      if (flags.json) process.stdout.write(`${JSON.stringify({ linkGbit, rows })}\n`);
    });
}

function describe(r: ClusterRow): string {
  return `${r.plane.padEnd(6)} ${r.wire.padEnd(8)} drivers ${r.drivers} worker hosts ${r.workerHosts}: ${r.gbPerSec.toFixed(3)} GB/s; driver link ${(r.driverLinkBytesPerBatch / 1e6).toFixed(2)} MB a batch, Redis link ${(r.redisLinkBytesPerBatch / 1e3).toFixed(1)} kB a batch`;
}

/** The goals, each a ratio within this run. */
function reportGoals(rows: ClusterRow[], linkGbit: number): void {
  const find = (p: Partial<ClusterRowSpec>): ClusterRow | undefined =>
    rows.find((r) => Object.entries(p).every(([k, v]) => r[k as keyof ClusterRowSpec] === v));
  const direct2 = find({ plane: 'direct', wire: 'float32', drivers: 1, workerHosts: 2 });
  const redis2 = find({ plane: 'redis', wire: 'float32', drivers: 1, workerHosts: 2 });
  const direct4 = find({ plane: 'direct', wire: 'float32', drivers: 1, workerHosts: 4 });
  const two = find({ drivers: 2 });
  const bf16 = find({ wire: 'bfloat16' });
  const line = (what: string, value: number, goal: number): void => {
    process.stderr.write(
      `${value >= goal ? 'met    ' : 'NOT met'} ${what}: ${value.toFixed(2)} (goal >= ${goal})\n`,
    );
  };
  const link = linkGbit / 8; // GB/s each way
  if (direct2) line('direct, 2 worker hosts, vs the driver link rate', direct2.gbPerSec / link, 0.8);
  if (direct2 && redis2)
    line('direct vs redis plane, 2 worker hosts', direct2.gbPerSec / redis2.gbPerSec, 1.6);
  if (two && direct4)
    line('2 drivers on 2 hosts vs 1 driver (4 worker hosts)', two.gbPerSec / direct4.gbPerSec, 1.8);
  if (bf16 && direct2) line('bfloat16 vs float32 (2 worker hosts)', bf16.gbPerSec / direct2.gbPerSec, 1.7);
  if (direct2)
    process.stderr.write(
      `${direct2.redisLinkBytesPerBatch < 16_000 ? 'met    ' : 'NOT met'} Redis link on the direct plane: ${direct2.redisLinkBytesPerBatch} bytes a batch (goal < 16000)\n`,
    );
}
