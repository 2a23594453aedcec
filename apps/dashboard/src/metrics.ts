import type { Pipeline } from '@cnsn/pipeline';
import { type Job, QueueEvents } from 'bullmq';
import { Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics, all prefixed `cnsn_`. Gauges are read from the pipeline's status on each
 * scrape; the histograms observe every completed job as BullMQ reports it.
 */
export class DashboardMetrics {
  readonly registry = new Registry();
  private readonly events: QueueEvents;

  constructor(private readonly pipeline: Pipeline) {
    const r = this.registry;
    const queue = pipeline.queue.name;
    const status = (): ReturnType<Pipeline['status']> => pipeline.status();
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
    const runGauge = (
      name: string,
      help: string,
      pick: (x: Awaited<ReturnType<Pipeline['status']>>['runs'][number]) => number,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ['run'],
        registers: [r],
        async collect() {
          this.reset();
          for (const run of (await status()).runs) this.set({ run: run.run }, pick(run));
        },
      });
    };
    runGauge('cnsn_run_batches_enqueued', 'Batches enqueued by the run', (x) => x.counters.enqueued);
    runGauge(
      'cnsn_run_batches_delivered',
      'Batches delivered in order to the driver',
      (x) => x.counters.delivered,
    );
    runGauge('cnsn_run_batches_failed', 'Batches that failed for good', (x) => x.counters.failed);
    runGauge('cnsn_run_batches_in_flight', 'Batches enqueued and not yet delivered', (x) => x.inFlight);
    runGauge(
      'cnsn_run_reorder_buffer',
      'Finished batches waiting in Redis for their turn',
      (x) => x.reorderBuffer,
    );
    runGauge(
      'cnsn_run_batches_per_second',
      'Batches finished per second over the last minute',
      (x) => x.batchesPerSec,
    );
    const workerGauge = (
      name: string,
      help: string,
      pick: (w: Awaited<ReturnType<Pipeline['status']>>['workers'][number]) => number,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ['worker', 'host', 'backend'],
        registers: [r],
        async collect() {
          this.reset();
          for (const w of (await status()).workers)
            this.set({ worker: w.id, host: w.host, backend: w.backend }, pick(w));
        },
      });
    };
    workerGauge('cnsn_worker_batches', 'Batches a live worker has done', (w) => w.batches);
    workerGauge('cnsn_worker_failed_batches', 'Batches a live worker failed', (w) => w.failed);
    workerGauge(
      'cnsn_worker_kernel_ms',
      'Recent kernel milliseconds per batch (moving average)',
      (w) => w.recentKernelMs,
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
      connection: pipeline.redis.duplicate(),
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

  async close(): Promise<void> {
    await this.events.close();
  }
}
