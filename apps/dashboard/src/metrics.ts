import { duplicateClient, type Pipeline, type PipelineStatus } from '@cnsn/pipeline';
import { type Job, QueueEvents } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

type RunRow = PipelineStatus['runs'][number];
type WorkerRow = PipelineStatus['workers'][number];

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
    const r = this.registry;
    const queue = pipeline.queue.name;
    const status = (): Promise<PipelineStatus> => this.status();
    new Gauge({
      name: 'cnsn_queue_jobs',
      help: 'Jobs in the queue by state',
      labelNames: ['queue', 'state'],
      registers: [r],
      async collect() {
        const s = await status();
        for (const [state, n] of Object.entries(s.jobs)) this.set({ queue, state }, n);
      },
    });
    const perRun = (kind: 'gauge' | 'counter', name: string, help: string, pick: (x: RunRow) => number) => {
      const labelNames = ['run', 'plane'] as const;
      const collect = async function (
        this: Gauge<(typeof labelNames)[number]> | Counter<(typeof labelNames)[number]>,
      ): Promise<void> {
        this.reset();
        for (const run of (await status()).runs) {
          const labels = { run: run.run, plane: run.dataPlane };
          if (this instanceof Gauge) this.set(labels, pick(run));
          else this.inc(labels, Math.max(0, pick(run)));
        }
      };
      if (kind === 'gauge') new Gauge({ name, help, labelNames, registers: [r], collect });
      else new Counter({ name, help, labelNames, registers: [r], collect });
    };
    perRun(
      'counter',
      'cnsn_run_batches_enqueued_total',
      'Batches enqueued by the run',
      (x) => x.counters.enqueued,
    );
    perRun(
      'counter',
      'cnsn_run_batches_delivered_total',
      'Batches delivered in order to the driver',
      (x) => x.counters.delivered,
    );
    perRun(
      'counter',
      'cnsn_run_batches_failed_total',
      'Batches that failed for good',
      (x) => x.counters.failed,
    );
    perRun(
      'gauge',
      'cnsn_run_batches_in_flight',
      'Batches enqueued and not yet delivered',
      (x) => x.inFlight,
    );
    perRun(
      'gauge',
      'cnsn_run_reorder_buffer_batches',
      'Finished batches waiting for their turn',
      (x) => x.reorderBuffer,
    );
    for (const direction of ['in', 'out'] as const)
      perRun(
        'counter',
        `cnsn_run_tensor_${direction === 'in' ? 'input' : 'output'}_bytes_total`,
        `Tensor bytes the run's driver ${direction === 'in' ? 'put on its data plane' : 'took from it'}`,
        (x) => (direction === 'in' ? x.counters.bytesIn : x.counters.bytesOut),
      );
    perRun(
      'gauge',
      'cnsn_run_batch_rate',
      'Batches finished per second over the last minute',
      (x) => x.batchesPerSec,
    );
    const perWorker = (
      kind: 'gauge' | 'counter',
      name: string,
      help: string,
      pick: (w: WorkerRow) => number,
    ) => {
      const labelNames = ['worker', 'host', 'backend'] as const;
      const collect = async function (
        this: Gauge<(typeof labelNames)[number]> | Counter<(typeof labelNames)[number]>,
      ): Promise<void> {
        this.reset();
        for (const w of (await status()).workers) {
          const labels = { worker: w.id, host: w.host, backend: w.backend };
          if (this instanceof Gauge) this.set(labels, pick(w));
          else this.inc(labels, Math.max(0, pick(w)));
        }
      };
      if (kind === 'gauge') new Gauge({ name, help, labelNames, registers: [r], collect });
      else new Counter({ name, help, labelNames, registers: [r], collect });
    };
    new Gauge({
      name: 'cnsn_worker_info',
      help: 'A live worker, its backend and the adapter a GPU backend runs on (value 1)',
      labelNames: ['worker', 'host', 'backend', 'adapter'],
      registers: [r],
      async collect() {
        this.reset();
        for (const w of (await status()).workers)
          this.set({ worker: w.id, host: w.host, backend: w.backend, adapter: w.adapter }, 1);
      },
    });
    perWorker('counter', 'cnsn_worker_batches_total', 'Batches a live worker has done', (w) => w.batches);
    perWorker('counter', 'cnsn_worker_failed_batches_total', 'Batches a live worker failed', (w) => w.failed);
    perWorker(
      'gauge',
      'cnsn_worker_kernel_seconds',
      'Recent kernel time per batch of a live worker (moving average)',
      (w) => w.recentKernelMs / 1000,
    );
    perWorker(
      'gauge',
      'cnsn_worker_resident_memory_bytes',
      'Resident set of a live worker',
      (w) => w.rssBytes,
    );
    perWorker(
      'gauge',
      'cnsn_worker_heap_used_bytes',
      'V8 heap in use by a live worker',
      (w) => w.heapUsedBytes,
    );
    perWorker(
      'gauge',
      'cnsn_worker_runs_held',
      'Runs a live worker holds (spec, parameters, connections)',
      (w) => w.runsHeld,
    );
    new Gauge({
      name: 'cnsn_redis_used_memory_bytes',
      help: 'Redis used_memory',
      registers: [r],
      async collect() {
        this.set((await status()).redis.usedMemory);
      },
    });
    new Gauge({
      name: 'cnsn_redis_max_memory_bytes',
      help: 'Redis maxmemory (0: no limit)',
      registers: [r],
      async collect() {
        this.set((await status()).redis.maxMemory);
      },
    });
    const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    const latency = new Histogram({
      name: 'cnsn_batch_latency_seconds',
      help: 'Enqueue to result stored',
      labelNames: ['queue'],
      buckets,
      registers: [r],
    });
    const wait = new Histogram({
      name: 'cnsn_queue_wait_seconds',
      help: 'Enqueue to a worker taking the batch',
      labelNames: ['queue'],
      buckets,
      registers: [r],
    });
    const kernel = new Histogram({
      name: 'cnsn_kernel_seconds',
      help: 'Kernel time of a batch in a worker',
      labelNames: ['queue'],
      buckets,
      registers: [r],
    });
    this.events = new QueueEvents(queue, {
      connection: duplicateClient(pipeline.redis),
      prefix: pipeline.keys.prefix,
    });
    this.events.on('error', () => undefined);
    this.events.on('completed', ({ jobId }) => {
      void pipeline.queue.getJob(jobId).then((job: Job | undefined) => {
        if (!job?.finishedOn || !job.processedOn) return;
        latency.observe({ queue }, (job.finishedOn - job.timestamp) / 1000);
        wait.observe({ queue }, Math.max(0, job.processedOn - job.timestamp) / 1000);
        const ms = (job.returnvalue as { kernelMs?: number } | null)?.kernelMs;
        if (typeof ms === 'number') kernel.observe({ queue }, ms / 1000);
      });
    });
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
