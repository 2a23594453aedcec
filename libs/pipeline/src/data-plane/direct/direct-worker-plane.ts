import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { type BatchJobData, ProtocolError } from '@cnsn/protocol';
import { Pool } from 'undici';
import type { RunState } from '../../run-state.js';
import { InputMissingError, type WorkerDataPlane } from '../data-plane.js';
import { Http1Client } from './http1-client.js';

export interface DirectWorkerPlaneOptions {
  state: RunState;
  maxBlobBytes: number;
  /** PEM file of the CA that signed the drivers' certificates (https endpoints). @defaultValue env CNSN_REDIS_CA */
  caFile?: string;
  /** No byte for this long ends a request. @defaultValue 30000 */
  timeoutMs?: number;
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
 * back (undici, one connection pool per driver). The driver's endpoint comes from the run's state in
 * Redis, so a resumed driver (new address) is found again: a refused connection or request makes
 * the worker read it afresh once. A driver that cannot be reached is a missing input: the job
 * waits (BullMQ's retries) and fails only on its last attempt.
 */
export class DirectWorkerPlane implements WorkerDataPlane {
  readonly kind = 'direct' as const;
  private readonly pools = new Map<string, Pool>();
  private readonly clients = new Map<string, Http1Client>();
  private readonly endpoints = new Map<string, string>();
  private readonly ca: Buffer | undefined;

  constructor(private readonly o: DirectWorkerPlaneOptions) {
    const caFile = o.caFile ?? process.env.CNSN_REDIS_CA;
    this.ca = caFile ? readFileSync(caFile) : undefined;
  }

  async fetchInput(job: BatchJobData, into: (length: number) => Uint8Array): Promise<Uint8Array> {
    const what = `input of batch ${job.seq} of run ${job.run}`;
    const headers = { authorization: `Bearer ${job.secret}` };
    const sized = (length: number): Uint8Array => {
      if (length > this.o.maxBlobBytes || length !== job.bytes)
        throw new ProtocolError(what, `the driver sent ${length} bytes, the job says ${job.bytes}`);
      return into(length);
    };
    try {
      return await this.withEndpoint(job.run, async (pool, url) => {
        let status: number;
        let body: Uint8Array;
        if (url.protocol === 'http:') {
          // Plain HTTP: the body lands straight in the worker's buffer (see Http1Client).
          ({ status, body } = await this.client(url).request({
            method: 'GET',
            path: batchPath(job, 'input'),
            headers,
            into: sized,
          }));
        } else {
          ({ status, body } = await this.undiciGet(pool, batchPath(job, 'input'), headers, sized, what));
        }
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

  /** GET through undici (HTTPS): the body in chunks, copied into place. */
  private async undiciGet(
    pool: Pool,
    path: string,
    headers: Record<string, string>,
    sized: (length: number) => Uint8Array,
    what: string,
  ): Promise<{ status: number; body: Uint8Array }> {
    const { statusCode, headers: answer, body } = await pool.request({ path, method: 'GET', headers });
    if (statusCode !== 200)
      return { status: statusCode, body: Buffer.from(await body.text().catch(() => '')) };
    let buffer: Uint8Array;
    try {
      buffer = sized(Number(answer['content-length']));
    } catch (err) {
      body.destroy();
      throw err;
    }
    let at = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (at + chunk.length > buffer.length)
        throw new ProtocolError(what, 'the driver sent more than it announced');
      buffer.set(chunk, at);
      at += chunk.length;
    }
    if (at !== buffer.length)
      throw new Error(`${what}: the body ended after ${at} of ${buffer.length} bytes`);
    return { status: 200, body: buffer };
  }

  async putResult(job: BatchJobData, blob: Uint8Array[], midway?: () => Promise<void>): Promise<void> {
    const length = blob.reduce((n, p) => n + p.byteLength, 0);
    const headers = { authorization: `Bearer ${job.secret}`, 'content-type': 'application/octet-stream' };
    await this.withEndpoint(job.run, async (pool, url) => {
      let status: number;
      let text: string;
      if (url.protocol === 'http:') {
        const answer = await this.client(url).request({
          method: 'PUT',
          path: batchPath(job, 'result'),
          headers,
          body: blob,
          ...(midway ? { midway } : {}),
        });
        status = answer.status;
        text = Buffer.from(answer.body).toString();
      } else {
        await midway?.();
        const answer = await pool.request({
          path: batchPath(job, 'result'),
          method: 'PUT',
          headers: { ...headers, 'content-length': String(length) },
          body: Readable.from(blob, { objectMode: false }),
        });
        status = answer.statusCode;
        text = await answer.body.text().catch(() => '');
      }
      // 409: no longer in flight (delivered, or the run ended): nothing left to do for it.
      if (status === 204 || status === 200 || status === 409) return;
      throw new DriverAnswer(
        status,
        `result of batch ${job.seq}: the driver answered ${status} ${text}`.trim(),
      );
    });
  }

  async hasResult(job: BatchJobData): Promise<boolean> {
    const headers = { authorization: `Bearer ${job.secret}` };
    try {
      return await this.withEndpoint(job.run, async (pool, url) => {
        if (url.protocol === 'http:')
          return (
            (await this.client(url).request({ method: 'HEAD', path: batchPath(job, 'result'), headers }))
              .status === 200
          );
        const { statusCode, body } = await pool.request({
          path: batchPath(job, 'result'),
          method: 'HEAD',
          headers,
        });
        await body.dump();
        return statusCode === 200;
      });
    } catch {
      return false;
    }
  }

  async discard(): Promise<void> {
    // The driver holds the batch; nothing of it lives elsewhere.
  }

  /** Drops the run's endpoint, and the connections to a driver that no remembered run uses. */
  forget(run: string): void {
    this.endpoints.delete(run);
    const used = new Set([...this.endpoints.values()].map((url) => new URL(url).origin));
    for (const [origin, pool] of this.pools)
      if (!used.has(origin)) {
        this.pools.delete(origin);
        void pool.close().catch(() => undefined);
      }
    for (const [origin, client] of this.clients)
      if (!used.has(origin)) {
        this.clients.delete(origin);
        client.close();
      }
  }

  /** Endpoints and connections held (a bounded-memory check). */
  get held(): { endpoints: number; pools: number; clients: number } {
    return { endpoints: this.endpoints.size, pools: this.pools.size, clients: this.clients.size };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => undefined)));
    this.pools.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /**
   * Runs a request against the run's driver; when the connection is refused or the driver does not
   * know the request (a resumed driver elsewhere), reads the endpoint from Redis again and retries once.
   */
  private async withEndpoint<T>(run: string, request: (pool: Pool, url: URL) => Promise<T>): Promise<T> {
    for (let fresh = false; ; fresh = true) {
      const url = await this.endpoint(run, fresh);
      try {
        return await request(this.pool(url), new URL(url));
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

  private client(url: URL): Http1Client {
    let client = this.clients.get(url.origin);
    if (!client) {
      client = new Http1Client(
        url.hostname.replace(/^\[|\]$/g, ''),
        Number(url.port || 80),
        this.o.timeoutMs ?? 30_000,
      );
      this.clients.set(url.origin, client);
    }
    return client;
  }

  private pool(url: string): Pool {
    const origin = new URL(url).origin;
    let pool = this.pools.get(origin);
    if (!pool) {
      const timeout = this.o.timeoutMs ?? 30_000;
      pool = new Pool(origin, {
        connections: 4,
        headersTimeout: timeout,
        bodyTimeout: timeout,
        connect: { ...(this.ca ? { ca: this.ca } : {}), timeout: 10_000 },
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }
}

function batchPath(job: BatchJobData, what: 'input' | 'result'): string {
  return `/v1/runs/${job.run}/batches/${job.seq}/${what}`;
}
