import { type BatchJobData, ProtocolError } from '@cnsn/protocol';
import type { RunState } from '../../run-state.js';
import { InputMissingError, type WorkerDataPlane } from '../data-plane.js';
import { HttpTransport, type WorkerTransport } from './worker-transport.js';

export interface DirectWorkerPlaneOptions {
  state: RunState;
  maxBlobBytes: number;
  /** How requests reach the drivers. @defaultValue an HttpTransport with `caFile` */
  transport?: WorkerTransport;
  /** PEM file of the CA that signed the drivers' certificates (https endpoints). @defaultValue env CNSN_REDIS_CA */
  caFile?: string;
}

/** An HTTP answer the worker acts on. */
class DriverAnswer extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The direct plane, worker side: fetches a batch's input from its run's driver and hands the result
 * back, through its transport. The driver's endpoint comes from the run's state in Redis, so a
 * resumed driver (new address) is found again: a refused connection or request makes the worker
 * read it afresh once. A driver that cannot be reached is a missing input: the job waits (BullMQ's
 * retries) and fails only on its last attempt.
 */
export class DirectWorkerPlane implements WorkerDataPlane {
  readonly kind = 'direct' as const;
  private readonly endpoints = new Map<string, string>();
  private readonly transport: WorkerTransport;

  constructor(private readonly o: DirectWorkerPlaneOptions) {
    this.transport = o.transport ?? new HttpTransport(o.caFile ? { caFile: o.caFile } : {});
  }

  async fetchInput(job: BatchJobData, into: (length: number) => Uint8Array): Promise<Uint8Array> {
    const what = `input of batch ${job.seq} of run ${job.run}`;
    const sized = (length: number): Uint8Array => {
      if (length > this.o.maxBlobBytes || length !== job.bytes)
        throw new ProtocolError(what, `the driver sent ${length} bytes, the job says ${job.bytes}`);
      return into(length);
    };
    try {
      return await this.withEndpoint(job.run, async (origin) => {
        const { status, body } = await this.transport.request(origin, {
          method: 'GET',
          path: batchPath(job, 'input'),
          headers: auth(job),
          into: sized,
        });
        if (status !== 200)
          throw new DriverAnswer(
            status,
            `${what}: the driver answered ${status} ${Buffer.from(body).toString()}`.trim(),
          );
        return body;
      });
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      // Not in flight (a restarted driver has not put it back yet), or no driver: wait for it.
      throw new InputMissingError((err as Error).message);
    }
  }

  async putResult(job: BatchJobData, blob: Uint8Array[]): Promise<void> {
    await this.withEndpoint(job.run, async (origin) => {
      const { status, body } = await this.transport.request(origin, {
        method: 'PUT',
        path: batchPath(job, 'result'),
        headers: { ...auth(job), 'content-type': 'application/octet-stream' },
        body: blob,
      });
      // 409: no longer in flight (delivered, or the run ended): nothing left to do for it.
      if (status === 204 || status === 200 || status === 409) return;
      throw new DriverAnswer(
        status,
        `result of batch ${job.seq}: the driver answered ${status} ${Buffer.from(body).toString()}`.trim(),
      );
    });
  }

  async hasResult(job: BatchJobData): Promise<boolean> {
    try {
      return await this.withEndpoint(job.run, async (origin) => {
        const answer = await this.transport.request(origin, {
          method: 'HEAD',
          path: batchPath(job, 'result'),
          headers: auth(job),
        });
        return answer.status === 200;
      });
    } catch {
      return false;
    }
  }

  async discard(): Promise<void> {
    // The driver holds the batch; nothing of it lives elsewhere.
  }

  /** Drops the run's endpoint, and the connections to drivers that no remembered run uses. */
  forget(run: string): void {
    this.endpoints.delete(run);
    this.transport.retain(new Set([...this.endpoints.values()].map((url) => new URL(url).origin)));
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * Runs a request against the run's driver; when the connection is refused or the driver does not
   * know the request (a resumed driver elsewhere), reads the endpoint from Redis again and retries once.
   */
  private async withEndpoint<T>(run: string, request: (origin: string) => Promise<T>): Promise<T> {
    for (let fresh = false; ; fresh = true) {
      const url = await this.endpoint(run, fresh);
      try {
        return await request(new URL(url).origin);
      } catch (err) {
        const stale = !(err instanceof DriverAnswer) || err.status === 401 || err.status === 404;
        if (fresh || !stale || err instanceof ProtocolError) throw err;
      }
    }
  }

  private async endpoint(run: string, fresh: boolean): Promise<string> {
    const cached = this.endpoints.get(run);
    if (cached && !fresh) return cached;
    const url = await this.o.state.endpoint(run);
    if (!url) throw new Error(`run ${run} has no direct endpoint (its driver is not serving)`);
    this.endpoints.set(run, url);
    return url;
  }
}

function auth(job: BatchJobData): Record<string, string> {
  return { authorization: `Bearer ${job.secret}` };
}

function batchPath(job: BatchJobData, what: 'input' | 'result'): string {
  return `/v1/runs/${job.run}/batches/${job.seq}/${what}`;
}
