import { duplicateClient, type Pipeline, type PipelineStatus } from '@cnsn/pipeline';
import { type Job, QueueEvents } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

type RunRow = PipelineStatus['runs'][number];
type WorkerRow = PipelineStatus['workers'][number];

/** One series per run or per worker, read from the scrape's status. */
interface SeriesMetric<Row> {
  kind: 'gauge' | 'counter';
  name: string;
  help: string;
  pick: (row: Row) => number;
}

const RUN_METRICS: Array<SeriesMetric<RunRow>> = [
  {
    kind: 'counter',
    name: 'cnsn_run_batches_enqueued_total',
    help: 'Batches enqueued by the run',
    pick: (x) => x.counters.enqueued,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_batches_delivered_total',
    help: 'Batches delivered in order to the driver',
    pick: (x) => x.counters.delivered,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_batches_failed_total',
    help: 'Batches that failed for good',
    pick: (x) => x.counters.failed,
  },
  {
    kind: 'gauge',
    name: 'cnsn_run_batches_in_flight',
    help: 'Batches enqueued and not yet delivered',
    pick: (x) => x.inFlight,
  },
  {
    kind: 'gauge',
    name: 'cnsn_run_reorder_buffer_batches',
    help: 'Finished batches waiting for their turn',
    pick: (x) => x.reorderBuffer,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_tensor_input_bytes_total',
    help: "Tensor bytes the run's driver put on its data plane",
    pick: (x) => x.counters.bytesIn,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_tensor_output_bytes_total',
    help: "Tensor bytes the run's driver took from its data plane",
    pick: (x) => x.counters.bytesOut,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_consumer_wait_seconds_total',
    help: "Time the run's consumer (the trainer) waited for its next batch: input-bound time",
    pick: (x) => (x.counters.consumer?.waitMs ?? 0) / 1000,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_consumer_hold_seconds_total',
    help: "Time the run's consumer held its batches (its steps)",
    pick: (x) => (x.counters.consumer?.holdMs ?? 0) / 1000,
  },
  {
    kind: 'counter',
    name: 'cnsn_run_consumer_batches_total',
    help: "Batches the run's consumer received",
    pick: (x) => x.counters.consumer?.batches ?? 0,
  },
  {
    kind: 'gauge',
    name: 'cnsn_run_batch_rate',
    help: 'Batches finished per second over the last minute',
    pick: (x) => x.batchesPerSec,
  },
];

const WORKER_METRICS: Array<SeriesMetric<WorkerRow>> = [
  {
    kind: 'counter',
    name: 'cnsn_worker_batches_total',
    help: 'Batches a live worker has done',
    pick: (w) => w.batches,
  },
  {
    kind: 'counter',
    name: 'cnsn_worker_failed_batches_total',
    help: 'Batches a live worker failed',
    pick: (w) => w.failed,
  },
  {
    kind: 'gauge',
    name: 'cnsn_worker_kernel_seconds',
    help: 'Recent kernel time per batch of a live worker (moving average)',
    pick: (w) => w.recentKernelMs / 1000,
  },
  {
    kind: 'gauge',
    name: 'cnsn_worker_resident_memory_bytes',
    help: 'Resident set of a live worker',
    pick: (w) => w.rssBytes,
  },
  {
    kind: 'gauge',
    name: 'cnsn_worker_heap_used_bytes',
    help: 'V8 heap in use by a live worker',
    pick: (w) => w.heapUsedBytes,
  },
  {
    kind: 'gauge',
    name: 'cnsn_worker_runs_held',
    help: 'Runs a live worker holds (spec, parameters, connections)',
    pick: (w) => w.runsHeld,
  },
];

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Prometheus metrics, all prefixed `cnsn_`, in base units (seconds, bytes); what only grows is a
 * counter named `_total` (`promtool check metrics` passes). Gauges and counters are read from one
 * status snapshot per scrape; the histograms observe every completed job as BullMQ reports it.
 */
export class DashboardMetrics {
  readonly registry = new Registry();
  private readonly events: QueueEvents;
  private snapshot: { at: number; status: Promise<PipelineStatus> } | null = null;

  constructor(private readonly pipeline: Pipeline) {
    const queue = pipeline.queue.name;
    this.statusGauge('cnsn_queue_jobs', 'Jobs in the queue by state', ['queue', 'state'], (s, set) => {
      for (const [state, n] of Object.entries(s.jobs)) set({ queue, state }, n);
    });
    for (const m of RUN_METRICS)
      this.series(m, ['run', 'plane'], (s) =>
        s.runs.map((run) => [{ run: run.run, plane: run.dataPlane }, m.pick(run)]),
      );
    this.statusGauge(
      'cnsn_worker_info',
      'A live worker, its backend and the adapter a GPU backend runs on (value 1)',
      ['worker', 'host', 'backend', 'adapter'],
      (s, set) => {
        for (const w of s.workers)
          set({ worker: w.id, host: w.host, backend: w.backend, adapter: w.adapter }, 1);
      },
    );
    for (const m of WORKER_METRICS)
      this.series(m, ['worker', 'host', 'backend'], (s) =>
        s.workers.map((w) => [{ worker: w.id, host: w.host, backend: w.backend }, m.pick(w)]),
      );
    this.statusGauge('cnsn_redis_used_memory_bytes', 'Redis used_memory', [], (s, set) =>
      set({}, s.redis.usedMemory),
    );
    this.statusGauge('cnsn_redis_max_memory_bytes', 'Redis maxmemory (0: no limit)', [], (s, set) =>
      set({}, s.redis.maxMemory),
    );
    this.events = this.observeJobs(queue);
  }

  /** A gauge set from the scrape's status. */
  private statusGauge(
    name: string,
    help: string,
    labelNames: string[],
    fill: (s: PipelineStatus, set: (labels: Record<string, string>, value: number) => void) => void,
  ): void {
    const status = (): Promise<PipelineStatus> => this.status();
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        this.reset();
        fill(await status(), (labels, value) => this.set(labels, value));
      },
    });
  }

  /** One series per row of the status (a run, a worker); a counter takes the row's running total. */
  private series<Row>(
    m: SeriesMetric<Row>,
    labelNames: string[],
    rows: (s: PipelineStatus) => Array<[Record<string, string>, number]>,
  ): void {
    const status = (): Promise<PipelineStatus> => this.status();
    const collect = async function (this: Gauge | Counter): Promise<void> {
      this.reset();
      for (const [labels, value] of rows(await status())) {
        if (this instanceof Gauge) this.set(labels, value);
        else this.inc(labels, Math.max(0, value));
      }
    };
    const options = { name: m.name, help: m.help, labelNames, registers: [this.registry], collect };
    if (m.kind === 'gauge') new Gauge(options);
    else new Counter(options);
  }

  /** Histograms of every completed job: latency, queue wait, kernel time. */
  private observeJobs(queue: string): QueueEvents {
    const histogram = (name: string, help: string): Histogram =>
      new Histogram({ name, help, labelNames: ['queue'], buckets: BUCKETS, registers: [this.registry] });
    const latency = histogram('cnsn_batch_latency_seconds', 'Enqueue to result stored');
    const wait = histogram('cnsn_queue_wait_seconds', 'Enqueue to a worker taking the batch');
    const kernel = histogram('cnsn_kernel_seconds', 'Kernel time of a batch in a worker');
    const events = new QueueEvents(queue, {
      connection: duplicateClient(this.pipeline.redis),
      prefix: this.pipeline.keys.prefix,
    });
    events.on('error', () => undefined);
    events.on('completed', ({ jobId }) => {
      void this.pipeline.queue.getJob(jobId).then((job: Job | undefined) => {
        if (!job?.finishedOn || !job.processedOn) return;
        latency.observe({ queue }, (job.finishedOn - job.timestamp) / 1000);
        wait.observe({ queue }, Math.max(0, job.processedOn - job.timestamp) / 1000);
        const ms = (job.returnvalue as { kernelMs?: number } | null)?.kernelMs;
        if (typeof ms === 'number') kernel.observe({ queue }, ms / 1000);
      });
    });
    return events;
  }

  /** One status read per scrape, shared by every metric (a scrape runs the collectors together). */
  private status(): Promise<PipelineStatus> {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at > 500) {
      const status = this.pipeline.status();
      status.catch(() => (this.snapshot = null));
      this.snapshot = { at: now, status };
    }
    return this.snapshot.status;
  }

  async close(): Promise<void> {
    await this.events.close();
  }
}
