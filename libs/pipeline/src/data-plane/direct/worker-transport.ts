import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { Http1Client, type Http1Answer, type Http1Request } from './http1-client.js';

/**
 * How a worker talks to the drivers' endpoints: one request to one origin. The direct plane sees
 * only this seam (as the driver's endpoint sees only its router), so HTTP and HTTPS, and the fault
 * tests' wrappers, sit behind it.
 */
export interface WorkerTransport {
  /**
   * Sends one request. A GET answered 200 gets its body in `into(length)`; any other answer's body
   * (small, text) comes back in a buffer of its own; a HEAD's has none.
   */
  request(origin: string, req: Http1Request): Promise<Http1Answer>;
  /** Closes the connections to every origin not in `keep` (drivers no remembered run uses). */
  retain(keep: ReadonlySet<string>): void;
  close(): Promise<void>;
}

export interface HttpTransportOptions {
  /** No byte for this long ends a request. @defaultValue 30000 */
  timeoutMs?: number;
  /** PEM file of the CA that signed the drivers' certificates (https). @defaultValue env CNSN_REDIS_CA */
  caFile?: string;
}

/**
 * Plain HTTP through Http1Client (bodies straight into the caller's buffer: see its comment),
 * HTTPS through undici; a connection pool per origin either way.
 */
export class HttpTransport implements WorkerTransport {
  private readonly plain = new Map<string, Http1Client>();
  private readonly tls = new Map<string, Pool>();
  private readonly timeoutMs: number;
  private readonly ca: Buffer | undefined;

  constructor(o: HttpTransportOptions = {}) {
    this.timeoutMs = o.timeoutMs ?? 30_000;
    const caFile = o.caFile ?? process.env.CNSN_REDIS_CA;
    this.ca = caFile ? readFileSync(caFile) : undefined;
  }

  request(origin: string, req: Http1Request): Promise<Http1Answer> {
    const url = new URL(origin);
    if (url.protocol === 'http:') return this.client(url).request(req);
    return this.tlsRequest(this.pool(url), req);
  }

  retain(keep: ReadonlySet<string>): void {
    for (const [origin, client] of this.plain)
      if (!keep.has(origin)) {
        this.plain.delete(origin);
        client.close();
      }
    for (const [origin, pool] of this.tls)
      if (!keep.has(origin)) {
        this.tls.delete(origin);
        void pool.close().catch(() => undefined);
      }
  }

  async close(): Promise<void> {
    this.retain(new Set());
  }

  private client(url: URL): Http1Client {
    let client = this.plain.get(url.origin);
    if (!client) {
      client = new Http1Client(url.hostname.replace(/^\[|\]$/g, ''), Number(url.port || 80), this.timeoutMs);
      this.plain.set(url.origin, client);
    }
    return client;
  }

  private pool(url: URL): Pool {
    let pool = this.tls.get(url.origin);
    if (!pool) {
      pool = new Pool(url.origin, {
        connections: 4,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connect: { ...(this.ca ? { ca: this.ca } : {}), timeout: 10_000 },
      });
      this.tls.set(url.origin, pool);
    }
    return pool;
  }

  /** One request through undici: the body in chunks, copied into place for a GET. */
  private async tlsRequest(pool: Pool, req: Http1Request): Promise<Http1Answer> {
    const length = req.method === 'PUT' ? req.body.reduce((n, p) => n + p.byteLength, 0) : 0;
    const answer = await pool.request({
      path: req.path,
      method: req.method,
      headers: req.method === 'PUT' ? { ...req.headers, 'content-length': String(length) } : req.headers,
      ...(req.method === 'PUT' ? { body: Readable.from(req.body, { objectMode: false }) } : {}),
    });
    if (req.method === 'HEAD') {
      await answer.body.dump();
      return { status: answer.statusCode, body: new Uint8Array(0) };
    }
    if (req.method !== 'GET' || answer.statusCode !== 200)
      return { status: answer.statusCode, body: Buffer.from(await answer.body.text().catch(() => '')) };
    let buffer: Uint8Array;
    try {
      buffer = req.into(Number(answer.headers['content-length']));
    } catch (err) {
      answer.body.destroy();
      throw err;
    }
    let at = 0;
    for await (const chunk of answer.body as AsyncIterable<Buffer>) {
      if (at + chunk.length > buffer.length) throw new Error('the driver sent more than it announced');
      buffer.set(chunk, at);
      at += chunk.length;
    }
    if (at !== buffer.length) throw new Error(`the body ended after ${at} of ${buffer.length} bytes`);
    return { status: 200, body: buffer };
  }
}
