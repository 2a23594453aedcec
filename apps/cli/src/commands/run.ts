import {
  type BackendName,
  type CrossNormOptions,
  type SelfNormConfig,
  type SelfNormParams,
  type Shape4,
} from '@cnsn/kernels';
import {
  BatchFailedError,
  type DataPlaneChoice,
  type DeliveredBatch,
  EnqueueRefusedError,
  RunFinishedError,
  type Pipeline,
  type PipelineRun,
} from '@cnsn/pipeline';
import { DEFAULT_PREFIX, DEFAULT_QUEUE, type OnError, RUN_OPTIONS, type WireDtype } from '@cnsn/protocol';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import {
  addCrossNormOptions,
  addSelfNormOptions,
  crossNormOptionsFrom,
  type CrossNormFlags,
  selfNormConfigFrom,
  type SelfNormFlags,
} from '../augment-options.js';
import { backendOption } from '../backend-option.js';
import { type BatchSource, npySource, syntheticSource } from '../batch-source.js';
import { CliError } from '../cli-error.js';
import { OutputDigest } from '../digest.js';
import type { LocalWorkers } from '../local-workers.js';
import { NpyWriter } from '../npy-writer.js';
import { checkTlsFlags, openPipeline } from '../open-pipeline.js';
import { parseNonNegativeInt, parsePositiveInt, parseShape } from '../parse-options.js';
import { addOptionFlags } from '../option-flags.js';
import { addStreamOptions, type StreamFlags } from '../stream-options.js';
import { renderBatchPreview } from '../preview/batch-preview.js';
import { resolveRedis } from '../redis-target.js';

export interface RunFlags extends CrossNormFlags, SelfNormFlags, Partial<StreamFlags> {
  synthetic?: boolean;
  batches?: number;
  shape?: Shape4;
  input?: string[];
  out?: string;
  seed: number;
  runId?: string;
  resume?: boolean;
  workersLocal?: number;
  backend: BackendName;
  onError: OnError;
  maxInFlight?: number;
  /** Publish a picture of every K-th delivered batch for the dashboard. */
  previewEvery?: number;
  allowNonFinite?: boolean;
  returnStats?: boolean;
  /** Measuring: new SelfNorm parameters every K batches, as a trainer whose weights learn. */
  selfnormUpdateEvery?: number;
  redis?: string;
  prefix: string;
  queue: string;
  json?: boolean;
  progress?: boolean;
  /** Seconds a refused or reset first connection to Redis is retried. @defaultValue 30 */
  connectTimeout?: number;
  dataPlane: DataPlaneChoice;
  listen?: string;
  advertise?: string;
  wire: WireDtype;
  tlsCert?: string;
  tlsKey?: string;
  /** Start the clock (and the first batch) at this time, ms since the epoch (bench cluster's drivers). */
  startAt?: number;
  /** Ignore REDIS_URL and start a private redis-server (npm start). */
  privateRedis?: boolean;
}

/** A batch that did not come out augmented, named with its input file when there is one. */
export interface BatchNote {
  seq: number;
  file?: string;
  reason: string;
}

export interface RunSummary {
  run: string;
  batches: number;
  delivered: number;
  failed: number;
  seconds: number;
  gbPerSec: number;
  digest: string;
  /** The plane the run took, and the precision on the wire. */
  dataPlane: string;
  wire: WireDtype;
  /** Tensor bytes the driver moved on the plane (inputs served or stored, results received). */
  planeBytes: { in: number; out: number };
  /** Batches skipped (`--on-error skip`, or never enqueued), with their files and reasons. */
  skipped: BatchNote[];
  /** Batches delivered unaugmented (`--on-error passthrough`). */
  passthrough: BatchNote[];
  /** Present when `--resume` found the run finished already: nothing was run this time. */
  complete?: { finishedAt: string };
}

/**
 * Every output of a run, copied one after the other into memory allocated before the clock starts,
 * for a digest computed after it stops. Outputs have the inputs' shapes, so the size is known.
 */
class OutputArena {
  private at = 0;
  private readonly lengths: number[] = [];

  private constructor(private readonly bytes: Buffer) {}

  /** An arena for batches `from`.. of `source`, when they fit in `limit` bytes; else null. */
  static fit(source: BatchSource, from: number, limit: number): OutputArena | null {
    if (!limit || !source.bytes) return null;
    let total = 0;
    for (let seq = from; seq < source.count; seq++) total += source.bytes(seq);
    if (total > limit) return null;
    // Written through now, so that no page is first touched while the clock runs (a large zeroed
    // allocation is fresh zero pages that fault on first write).
    return new OutputArena(Buffer.allocUnsafeSlow(total).fill(1));
  }

  /** Copies an output in; false when it does not fit (the caller hashes it at once instead). */
  keep(data: Float32Array): boolean {
    if (this.at + data.byteLength > this.bytes.length) return false;
    this.bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), this.at);
    this.at += data.byteLength;
    this.lengths.push(data.byteLength);
    return true;
  }

  hashInto(digest: OutputDigest): void {
    digest.update(new Float32Array(this.bytes.buffer, this.bytes.byteOffset, this.at / 4));
  }
}

/** What a benchmark hook sees of the run. */
export interface RunContext {
  redisUrl: string;
  pipeline: Pipeline;
  run: PipelineRun;
  /** Process ids and worker ids of the local workers (none without --workers-local). */
  workerPids: number[];
  workerIds: string[];
}

/** What a benchmark adds around a run: called just before the clock starts, and after the last delivery. */
export interface RunHooks {
  before?: (ctx: RunContext) => Promise<void>;
  after?: (ctx: RunContext) => Promise<void>;
  /**
   * Hash the outputs after the clock stops (docs/cli.md: the digest is not timed): each output is copied
   * into an arena allocated (and its pages touched) before the clock starts, so hashing takes no CPU
   * from the pipeline while it is timed. Only when the whole run fits in `deferDigestBytes`.
   */
  deferDigestBytes?: number;
  /**
   * Make synthetic batches before the clock starts up to this many bytes in all (default
   * SYNTHETIC_EAGER_BYTES): made on demand they take the driver's CPU from the workers while the
   * clock runs, which subtracting their time does not give back.
   */
  eagerBytes?: number;
}

/** `cnsn run`: producer plus ordered collector in one process (docs/cli.md). */
export function runCommand(): Command {
  const cmd = new Command('run').description(
    'enqueue batches, have workers augment them, collect the results in order',
  );
  addRunOptions(cmd);
  return cmd.action(async (flags: RunFlags) => {
    const summary = await executeRun(flags);
    printSummary(summary, flags.json ?? false);
  });
}

export function addRunOptions(cmd: Command): Command {
  cmd
    .option('--synthetic', 'deterministic synthetic batches (from --seed)')
    .option('--batches <k>', 'number of synthetic batches', parsePositiveInt)
    .option('--shape <N,C,H,W>', 'shape of synthetic batches', parseShape)
    .option('--input <files...>', 'NCHW float32 .npy files, one batch each, in order')
    .option('--out <dir>', 'write each result, in order, as .npy')
    .option(
      '--workers-local <n>',
      'local worker processes for this run (default 2 with a private Redis, else 0)',
      parseNonNegativeInt,
    )
    .addOption(backendOption('auto', 'backend of the local workers'))
    .option(
      '--selfnorm-update-every <k>',
      'new SelfNorm parameters every K batches (slightly changed each time), as from a trainer whose SelfNorm learns; for measuring what updates cost',
      parsePositiveInt,
    )
    .option(
      '--preview-every <k>',
      'publish a picture of every K-th delivered batch (input beside output) for the dashboard',
      parsePositiveInt,
    )
    .option('--redis <url>', 'Redis URL (default REDIS_URL, else a private redis-server)')
    .option('--prefix <prefix>', 'Redis key prefix with a hash tag', DEFAULT_PREFIX)
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option(
      '--connect-timeout <s>',
      'seconds a refused or reset first connection to Redis is retried',
      parseNonNegativeInt,
      30,
    )
    .option(
      '--listen <host:port>',
      'where the driver serves its batches (direct plane; default a free loopback port with local workers, else all interfaces)',
    )
    .option(
      '--advertise <host:port>',
      'what workers are told (default the listen host, else the host name; port 0: the bound one)',
    )
    .option(
      '--tls-cert <file>',
      'serve the direct plane over HTTPS with this certificate (PEM; with --tls-key)',
    )
    .option('--tls-key <file>', 'the key of --tls-cert (PEM)')
    .option('--json', 'last line of stdout: the summary as JSON')
    .option('--no-progress', 'no progress bar')
    .addOption(
      new Option(
        '--start-at <ms>',
        'wait until this time (ms since the epoch) before the first batch: drivers that a benchmark starts together',
      )
        .argParser(parseNonNegativeInt)
        .hideHelp(),
    );
  addOptionFlags(
    cmd,
    RUN_OPTIONS.filter((o) => o.group === 'run').map((o) => o.key),
  );
  addStreamOptions(cmd);
  addCrossNormOptions(cmd);
  addSelfNormOptions(cmd);
  return cmd;
}

function sourceOf(flags: RunFlags, eagerBytes?: number): BatchSource {
  if (flags.synthetic && flags.input) throw new CliError('give either --synthetic or --input, not both');
  if (flags.input) return npySource(flags.input);
  if (!flags.synthetic)
    throw new CliError('no batches: give --synthetic --batches K --shape N,C,H,W, or --input FILE.npy ...');
  if (!flags.batches || !flags.shape) throw new CliError('--synthetic needs --batches K and --shape N,C,H,W');
  return syntheticSource(flags.shape, flags.batches, flags.seed, eagerBytes);
}

/** What a run needs before it connects: its batches, the first of them read, its options. */
interface PreparedRun {
  flags: RunFlags;
  source: BatchSource;
  first: { seq: number; batch: Awaited<ReturnType<BatchSource['load']>> };
  crossnorm: CrossNormOptions;
  selfnorm: SelfNormConfig | null;
  redis: Awaited<ReturnType<typeof resolveRedis>>;
  workerCount: number;
}

/** What a run holds open, closed in reverse order whatever happened. */
interface RunSession {
  pipeline: Pipeline | null;
  workers: LocalWorkers | null;
  run: PipelineRun | null;
  bar: cliProgress.SingleBar | null;
}

/** Runs the whole job; throws CliError (with the exit status) when it cannot do all it was asked. */
export async function executeRun(
  flags: RunFlags,
  /** Called on the run's Redis just before the clock starts and after the last delivery (benchmarks). */
  around?: RunHooks,
): Promise<RunSummary> {
  const job = await prepareRun(flags, around?.eagerBytes);
  const session: RunSession = { pipeline: null, workers: null, run: null, bar: progressBar(flags) };
  try {
    const pipeline = await connect(job, session);
    const opened = await openJobRun(job, pipeline);
    if ('finished' in opened) return opened.finished;
    session.run = opened.run;
    return await driveRun(job, session, pipeline, opened.run, around);
  } finally {
    session.bar?.stop();
    await session.run?.close().catch(() => undefined);
    await session.workers?.stop();
    await session.pipeline?.close().catch(() => undefined);
    await job.redis.dispose();
  }
}

/** Checks the flags that go together, reads the first batch, resolves Redis. */
async function prepareRun(flags: RunFlags, eagerBytes?: number): Promise<PreparedRun> {
  const checked = await checkRunFlags(flags, eagerBytes);
  const redis = await resolveRedis(flags.privateRedis ? undefined : flags.redis, flags.privateRedis ?? false);
  const workerCount = flags.workersLocal ?? (redis.local ? 2 : 0);
  return { flags, ...checked, redis, workerCount };
}

/**
 * The flags that go together checked, the batches' source and its first readable batch, the
 * CrossNorm and SelfNorm options: all a run needs of its flags (`cnsn run`, the Python client's
 * gateway).
 */
export async function checkRunFlags(
  flags: RunFlags,
  eagerBytes?: number,
): Promise<Pick<PreparedRun, 'source' | 'first' | 'crossnorm' | 'selfnorm'>> {
  const crossnorm = crossNormOptionsFrom(flags);
  if (flags.resume && !flags.runId) throw new CliError('--resume needs --run-id');
  if (flags.returnStats && flags.selfnorm !== 'off')
    throw new CliError(
      '--return-stats gives the statistics of the CrossNorm output, for a SelfNorm in your trainer; add --selfnorm off',
    );
  checkTlsFlags(flags);
  const source = sourceOf(flags, eagerBytes);
  const first = await firstReadable(source, flags.onError);
  const selfnorm = await selfNormConfigFrom(flags, first.batch.shape[1], flags.seed);
  return { source, first, crossnorm, selfnorm };
}

function progressBar(flags: RunFlags): cliProgress.SingleBar | null {
  if (flags.progress === false) return null;
  return new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: ' {bar} {value}/{total} batches | {rate} | ETA {eta}s',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** The pipeline, and the local workers when the run has its own. */
async function connect(job: PreparedRun, session: RunSession): Promise<Pipeline> {
  const { pipeline } = await openPipeline(job.flags, job.redis, job.workerCount, (part) =>
    Object.assign(session, part),
  );
  return pipeline;
}

/** Opens (or resumes) the run; a finished one under --resume is its summary instead. */
async function openJobRun(
  job: PreparedRun,
  pipeline: Pipeline,
): Promise<{ run: PipelineRun } | { finished: RunSummary }> {
  const { flags } = job;
  try {
    const run = await pipeline.openRun({
      ...(flags.runId ? { runId: flags.runId } : {}),
      resume: flags.resume ?? false,
      seed: flags.seed,
      rank: flags.rank ?? 0,
      epoch: flags.epoch ?? 0,
      start: flags.start ?? 0,
      crossnorm: job.crossnorm,
      selfnorm: job.selfnorm,
      onError: flags.onError,
      allowNonFinite: flags.allowNonFinite ?? false,
      returnStats: flags.returnStats ?? false,
      ...(flags.maxInFlight ? { maxInFlight: flags.maxInFlight } : {}),
      reuseResultBuffers: true,
      dataPlane: flags.dataPlane ?? 'auto',
      wire: flags.wire ?? 'float32',
    });
    return { run };
  } catch (err) {
    // A supervisor that always passes --resume, restarting a driver that had just finished.
    if (err instanceof RunFinishedError && err.resume)
      return { finished: finishedSummary(err, job.source, flags) };
    if (err instanceof RunFinishedError) throw new CliError(err.message, 1);
    throw err;
  }
}

/** What the collector counts while the run goes; the clock leaves out what is not the pipeline's. */
class RunTally {
  inputBytes = 0;
  /** Time spent drawing previews is the dashboard's, not the pipeline's: kept out of the figures. */
  previewMs = 0;
  failed = 0;
  delivered = 0;
  readonly skipped: BatchNote[] = [];
  readonly passthrough: BatchNote[] = [];
  readonly digest = new OutputDigest();
  readonly t0 = performance.now();
  tLast = this.t0;

  constructor(private readonly source: BatchSource) {}

  /** Seconds the pipeline had, up to the last delivery. */
  seconds(): number {
    return Math.max(
      (this.tLast - this.t0 - this.digest.ms - this.previewMs - (this.source.makeMs ?? 0)) / 1000,
      1e-9,
    );
  }

  named(seq: number): string {
    const file = this.source.file(seq);
    return file ? `batch ${seq} (${file})` : `batch ${seq}`;
  }

  note(seq: number, reason: string): BatchNote {
    const file = this.source.file(seq);
    return { seq, ...(file ? { file } : {}), reason };
  }
}

/** From the first batch not yet delivered to the last: says what it does, feeds, collects, sums up. */
async function driveRun(
  job: PreparedRun,
  session: RunSession,
  pipeline: Pipeline,
  run: PipelineRun,
  around: RunHooks | undefined,
): Promise<RunSummary> {
  const { source } = job;
  const from = run.nextSeq;
  if (from > source.count)
    throw new CliError(`run ${run.id} has delivered ${from} batches; this input has only ${source.count}`);
  announce(job, run, from);
  const writer = await openWriter(job, run);
  const context: RunContext = {
    redisUrl: job.redis.url,
    pipeline,
    run,
    workerPids: session.workers?.pids ?? [],
    workerIds: session.workers?.ids ?? [],
  };
  const arena = OutputArena.fit(source, from, around?.deferDigestBytes ?? 0);
  session.bar?.start(source.count, from, { rate: '' });
  await around?.before?.(context);
  const wait = (job.flags.startAt ?? 0) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const tally = new RunTally(source);
  watchFailures(run, tally, session.bar);
  await collect(job, run, produce(job, run, from, tally), { tally, writer, arena, bar: session.bar });
  session.bar?.stop();
  if (tally.skipped.length)
    process.stderr.write(`skipped batches: ${tally.skipped.map((s) => tally.named(s.seq)).join(', ')}\n`);
  // Taken before the arena is hashed: that hashing comes after the last delivery, and subtracting
  // its time too (as the digest's time is subtracted) made the figures too fast.
  const seconds = tally.seconds();
  await around?.after?.(context);
  arena?.hashInto(tally.digest);
  // The digest covers the whole run only when this invocation delivered it from batch 0.
  const hex = tally.digest.hex();
  if (from === 0) await run.recordDigest(hex);
  return {
    run: run.id,
    batches: source.count,
    delivered: tally.delivered + from,
    failed: tally.failed,
    seconds: round(seconds, 3),
    gbPerSec: round(tally.inputBytes / seconds / 1e9, 4),
    digest: hex,
    dataPlane: run.dataPlane,
    wire: run.spec.wire,
    planeBytes: run.planeBytes,
    skipped: tally.skipped,
    passthrough: tally.passthrough,
  };
}

function announce(job: PreparedRun, run: PipelineRun, from: number): void {
  if (run.resumed && !run.resumed.known)
    process.stderr.write(
      `run ${run.id}: nothing to resume (Redis never saw this run; its driver died before registering it): starting from batch 0${job.flags.out ? '; files already in --out are kept' : ''}\n`,
    );
  process.stderr.write(
    `run ${run.id}: ${job.source.count} batches${from ? ` (resuming at batch ${from})` : ''}, ${job.workerCount} local workers, window ${run.maxInFlight}\n` +
      `data plane ${run.planeChoice}; wire ${run.spec.wire}\n`,
  );
}

/** With --out: the writer, after it removed what a killed invocation of the run left half-written. */
async function openWriter(job: PreparedRun, run: PipelineRun): Promise<NpyWriter | null> {
  const { flags, source } = job;
  if (!flags.out) return null;
  const names = Array.from({ length: source.count }, (_, seq) => source.name(seq));
  const writer = await NpyWriter.open(
    flags.out,
    run.id,
    names.flatMap((name) => (flags.returnStats ? [name, statsName(name)] : [name])),
  );
  if (writer.removedPartials.length)
    process.stderr.write(
      `removed ${writer.removedPartials.length} half-written file(s) an earlier invocation of run ${run.id} left: ${writer.removedPartials.join(', ')}\n`,
    );
  return writer;
}

/** Skipped and passed-through batches, counted and named as they come. */
function watchFailures(run: PipelineRun, tally: RunTally, bar: cliProgress.SingleBar | null): void {
  run.on('skipped', (seq, reason) => {
    tally.failed++;
    tally.skipped.push(tally.note(seq, reason));
    process.stderr.write(`\nskipped ${tally.named(seq)}: ${reason}\n`);
    bar?.increment();
  });
  run.on('passthrough', (seq, reason) => {
    tally.failed++;
    tally.passthrough.push(tally.note(seq, reason));
    process.stderr.write(`\n${tally.named(seq)} delivered unaugmented (passthrough): ${reason}\n`);
  });
}

/**
 * Feeds batches `from`.. in order, then ends the run. Under skip or passthrough a batch that cannot
 * be read or is refused keeps its number, as a failed batch.
 */
async function produce(job: PreparedRun, run: PipelineRun, from: number, tally: RunTally): Promise<void> {
  const { source, flags, first, selfnorm } = job;
  for (let seq = from; seq < source.count; seq++) {
    let batch;
    try {
      batch = seq === first.seq ? first.batch : await source.load(seq);
    } catch (err) {
      if (flags.onError === 'fail') throw new CliError(`batch ${seq}: ${(err as Error).message}`, 1);
      await run.reject((err as Error).message);
      continue;
    }
    if (flags.selfnormUpdateEvery && selfnorm && seq > from && seq % flags.selfnormUpdateEvery === 0)
      await run.setSelfNorm(nudged(selfnorm.params, seq));
    try {
      await run.enqueue(batch.data, batch.shape);
      tally.inputBytes += batch.data.byteLength;
    } catch (err) {
      if (!(err instanceof EnqueueRefusedError)) throw err;
      if (flags.onError === 'fail')
        throw new CliError(`${tally.named(seq)} refused at enqueue: ${err.reason}`, 1);
      await run.reject(err.message);
    }
  }
  await run.end();
}

/** Takes every result in order: digest, files, previews, progress; the first failure ends the run. */
async function collect(
  job: PreparedRun,
  run: PipelineRun,
  producing: Promise<void>,
  o: {
    tally: RunTally;
    writer: NpyWriter | null;
    arena: OutputArena | null;
    bar: cliProgress.SingleBar | null;
  },
): Promise<void> {
  const { source, flags } = job;
  const { tally, writer, arena, bar } = o;
  // A batch that cannot be read stops the run: the collector would wait for it forever.
  let producerError: unknown = null;
  producing.catch((err: unknown) => {
    producerError = err;
    void run.close();
  });
  try {
    for await (const batch of run.results()) {
      if (!arena?.keep(batch.data)) tally.digest.update(batch.data);
      await writer?.write(source.name(batch.seq), batch.shape, batch.data);
      if (writer && batch.stats) await writeStats(writer, statsName(source.name(batch.seq)), batch);
      if (flags.previewEvery && batch.seq % flags.previewEvery === 0 && batch.status === 'ok') {
        // The preview's own load is the preview's time, not made-on-demand time to subtract twice.
        const made = source.makeMs ?? 0;
        tally.previewMs += (await publishPreview(run, source, batch)) - ((source.makeMs ?? 0) - made);
      }
      tally.delivered++;
      tally.tLast = performance.now();
      bar?.increment({ rate: `${((tally.inputBytes / tally.seconds()) * 1e-9).toFixed(2)} GB/s` });
    }
    await producing;
  } catch (err) {
    // The collector's failure, or the producer's (a batch it could not read), whichever came first.
    const first = producerError ?? err;
    if (first instanceof BatchFailedError)
      throw new CliError(`run ${first.run}: ${tally.named(first.seq)} failed: ${first.reason}`, 1);
    throw first;
  }
  if (producerError) throw producerError;
}

/** The parameters a learning trainer might have at batch `seq`: each gate weight moved a little. */
function nudged(params: SelfNormParams, seq: number): SelfNormParams {
  const scale = 1 + seq * 1e-6;
  const move = (w: Array<[number, number]>): Array<[number, number]> =>
    w.map(([a, b]) => [a * scale, b * scale]);
  return {
    ...params,
    gWeight: move(params.gWeight),
    ...(params.fWeight ? { fWeight: move(params.fWeight) } : {}),
  };
}

/** `in-03.npy` -> `in-03.stats.npy`: where a batch's returned statistics go with --out. */
function statsName(name: string): string {
  return `${name.replace(/\.npy$/, '')}.stats.npy`;
}

/** Mean then std, each (N, C), as one float64 array of shape (2, N, C). */
async function writeStats(writer: NpyWriter, name: string, batch: DeliveredBatch): Promise<void> {
  const { mean, std } = batch.stats as { mean: Float64Array; std: Float64Array };
  const both = new Float64Array(mean.length * 2);
  both.set(mean);
  both.set(std, mean.length);
  await writer.write(name, [2, batch.shape[0] as number, batch.shape[1] as number], both);
}

/** What `--resume` of a finished run prints: what it delivered, its digest when known. */
function finishedSummary(err: RunFinishedError, source: BatchSource, flags: RunFlags): RunSummary {
  const f = err.finished;
  process.stderr.write(`${err.message}\n`);
  if (f.total !== source.count)
    process.stderr.write(`note: run ${f.run} had ${f.total} batches; this input has ${source.count}\n`);
  return {
    run: f.run,
    batches: f.total,
    delivered: f.total,
    failed: f.failed,
    seconds: 0,
    gbPerSec: 0,
    digest: f.digest ?? 'unknown',
    dataPlane: 'none',
    wire: flags.wire ?? 'float32',
    planeBytes: { in: 0, out: 0 },
    skipped: [],
    passthrough: [],
    complete: { finishedAt: new Date(f.finishedAt).toISOString() },
  };
}

/** Draws batch `batch.seq` (input beside output) and publishes it; returns the milliseconds it took. */
async function publishPreview(run: PipelineRun, source: BatchSource, batch: DeliveredBatch): Promise<number> {
  const t0 = performance.now();
  const input = await source.load(batch.seq);
  const png = renderBatchPreview({
    run: run.id,
    seq: batch.seq,
    shape: batch.shape,
    input: input.data,
    output: batch.data,
    plan: batch.plan,
    label: source.name(batch.seq),
  });
  await run.publishPreview(batch.seq, png);
  return performance.now() - t0;
}

/** The first batch that can be read (SelfNorm's default parameters need its channel count). */
async function firstReadable(
  source: BatchSource,
  onError: OnError,
): Promise<{ seq: number; batch: Awaited<ReturnType<BatchSource['load']>> }> {
  for (let seq = 0; ; seq++) {
    try {
      return { seq, batch: await source.load(seq) };
    } catch (err) {
      if (onError === 'fail' || seq + 1 >= source.count)
        throw new CliError(`batch ${seq}: ${(err as Error).message}`, 1);
    }
  }
}

export function printSummary(s: RunSummary, json: boolean): void {
  const human = `run ${s.run}: ${s.delivered}/${s.batches} batches delivered in order, ${s.failed} failed, ${s.seconds.toFixed(2)} s, ${s.gbPerSec.toFixed(3)} GB/s\ndigest ${s.digest}\n`;
  if (json) {
    process.stderr.write(human);
    process.stdout.write(`${JSON.stringify(s)}\n`);
  } else {
    process.stdout.write(human);
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
