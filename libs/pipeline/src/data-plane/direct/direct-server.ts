import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RUN_ID_PATTERN } from '@cnsn/protocol';
import type { Logger } from '../../logger.js';
import { type Endpoint, parseEndpoint, resolveAdvertised } from './endpoint.js';

/** What the server asks of one run's driver-side plane. */
export interface DirectRunHandler {
  readonly secret: string;
  /** Batch `seq`'s input blob in parts, while the driver holds it; else null. */
  input(seq: number): Uint8Array[] | null;
  /** Whether batch `seq`'s result arrived already. */
  received(seq: number): boolean;
  /** How large batch `seq`'s result may be, while it is in flight and awaited; else null. */
  resultLimit(seq: number): number | null;
  /** Where a result body of `length` bytes is received (the run's buffer pool). */
  take(length: number): Uint8Array;
  /** A received body that is not kept goes back. */
  give(buffer: Uint8Array): void;
  /** A whole result body: the plane checks it (null) or says what is wrong with it. */
  accept(seq: number, body: Uint8Array): string | null;
  /** Bytes of input served. */
  served(bytes: number): void;
}

export interface DirectServerOptions {
  /** Where to listen, `HOST:PORT` (port 0: a free one). @defaultValue '127.0.0.1:0' */
  listen?: string;
  /**
   * What workers are told, `HOST:PORT`: default the listen host when it names one (not 0.0.0.0 or
   * ::), else this machine's host name; port 0 means the port actually bound.
   */
  advertise?: string;
  /** Serve HTTPS with this certificate and key (PEM files); workers trust it through the CA option. */
  tls?: { certFile: string; keyFile: string };
  /** A request body that sends nothing for this long is dropped (and its batch redone). @defaultValue 30000 */
  stallTimeoutMs?: number;
  logger: Logger;
}

const ROUTE = /^\/v1\/runs\/([^/]+)\/batches\/(\d{1,15})\/(input|result)$/;

/**
 * The driver's endpoint of the direct plane: workers fetch the inputs of the batches the driver has
 * in flight and hand their results back, over plain HTTP/1.1 (node:http; HTTPS with a certificate).
 * Each request must carry its run's secret; a request for another run, a batch not in flight, an
 * oversize, truncated or stalled body, or a result of the wrong shape is refused and stores nothing.
 */
export class DirectServer {
  private readonly runs = new Map<string, DirectRunHandler>();

  private constructor(
    private readonly server: Server,
    /** What workers are told to connect to, e.g. `http://host:port`. */
    readonly url: string,
    readonly listening: Endpoint,
  ) {}

  static async start(o: DirectServerOptions): Promise<DirectServer> {
    const listen = parseEndpoint(o.listen ?? '127.0.0.1:0', '--listen');
    const stall = o.stallTimeoutMs ?? 30_000;
    let self: DirectServer | null = null;
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      if (!self) return void res.writeHead(503).end();
      self.handle(req, res, stall, o.logger);
    };
    const server = o.tls
      ? createHttpsServer({ cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile) }, handler)
      : createHttpServer(handler);
    server.keepAliveTimeout = 60_000;
    server.headersTimeout = 20_000;
    server.requestTimeout = 0; // large bodies take long; stalls are caught per chunk instead
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
    const bound = (server.address() as AddressInfo).port;
    const advertised = resolveAdvertised(listen, o.advertise, bound);
    const host = advertised.host.includes(':') ? `[${advertised.host}]` : advertised.host;
    self = new DirectServer(server, `${o.tls ? 'https' : 'http'}://${host}:${advertised.port}`, {
      host: listen.host,
      port: bound,
    });
    return self;
  }

  register(run: string, handler: DirectRunHandler): void {
    this.runs.set(run, handler);
  }

  unregister(run: string): void {
    this.runs.delete(run);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse, stallMs: number, logger: Logger): void {
    const url = req.url ?? '';
    if (url === '/v1/ping' && req.method === 'GET') return void reply(res, 200, 'cnsn direct plane');
    const m = ROUTE.exec(url);
    if (!m) return void reply(res, 404, 'no such endpoint');
    const [, run = '', seqText = '', what] = m;
    const seq = Number(seqText);
    const h = RUN_ID_PATTERN.test(run) ? this.runs.get(run) : undefined;
    // The same answer for an unknown run and a wrong secret: nothing is said about other runs.
    if (!h || !authorized(req.headers.authorization, h.secret)) return void reply(res, 401, 'unauthorized');
    if (what === 'input') {
      if (req.method !== 'GET') return void reply(res, 405, 'GET an input');
      const parts = h.input(seq);
      if (!parts) return void reply(res, 404, `batch ${seq} is not in flight`);
      const length = parts.reduce((n, p) => n + p.byteLength, 0);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': length });
      res.socket?.cork();
      for (const p of parts) res.write(p);
      res.end();
      res.socket?.uncork();
      h.served(length);
      return;
    }
    if (req.method === 'HEAD')
      return void res.writeHead(h.received(seq) ? 200 : 404, { 'content-length': 0 }).end();
    if (req.method !== 'PUT') return void reply(res, 405, 'PUT a result');
    this.receive(req, res, h, seq, stallMs, logger);
  }

  /** A result body, straight into a buffer of the run's pool; kept only whole and well-formed. */
  private receive(
    req: IncomingMessage,
    res: ServerResponse,
    h: DirectRunHandler,
    seq: number,
    stallMs: number,
    logger: Logger,
  ): void {
    if (h.received(seq)) return void reply(res, 200, `batch ${seq}: result received already`);
    const limit = h.resultLimit(seq);
    if (limit === null) return void reply(res, 409, `batch ${seq} is not in flight`);
    const lengthText = req.headers['content-length'];
    const length = Number(lengthText);
    if (lengthText === undefined || !Number.isSafeInteger(length) || length <= 0)
      return void reply(res, 411, 'a result needs its content-length');
    if (length > limit) {
      logger.warn({ seq, length, limit }, 'direct plane: refused an oversize result body');
      return void reply(
        res,
        413,
        `batch ${seq}: a result of ${length} bytes exceeds the ${limit} a batch of its shape can have`,
        true,
      );
    }
    const body = h.take(length);
    let at = 0;
    let done = false;
    const finish = (status: number, text: string, keep: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!keep) h.give(body);
      if (!res.headersSent && !res.destroyed) reply(res, status, text, status >= 400);
    };
    let timer = setTimeout(() => stalled(), stallMs);
    const stalled = (): void => {
      logger.warn({ seq, received: at, length }, 'direct plane: a result body stalled; dropped');
      finish(408, `batch ${seq}: the body stalled`, false);
      req.destroy();
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      if (at + chunk.length > length) {
        finish(400, `batch ${seq}: the body is longer than its content-length`, false);
        req.destroy();
        return;
      }
      body.set(chunk, at);
      at += chunk.length;
      clearTimeout(timer);
      timer = setTimeout(stalled, stallMs);
    });
    req.on('end', () => {
      if (done) return;
      if (at !== length)
        return finish(400, `batch ${seq}: the body ended after ${at} of ${length} bytes`, false);
      const problem = h.accept(seq, body);
      if (problem) {
        logger.warn({ seq, problem }, 'direct plane: refused a result');
        return finish(422, problem, false);
      }
      finish(204, '', true);
    });
    // A client that goes away mid-body leaves nothing behind.
    req.on('close', () => {
      if (!done) finish(400, 'aborted', false);
    });
  }
}

function authorized(header: string | undefined, secret: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(secret);
  return given.length === want.length && timingSafeEqual(given, want);
}

function reply(res: ServerResponse, status: number, text: string, close = false): void {
  if (status === 204) return void res.writeHead(204).end();
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}
