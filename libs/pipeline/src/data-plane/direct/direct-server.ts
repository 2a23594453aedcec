import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RUN_ID_PATTERN } from '@cnsn/protocol';
import type { Logger } from '../../logger.js';
import { type Endpoint, parseEndpoint, resolveAdvertised } from './endpoint.js';
import { type Decision, type RequestHead, text } from './http-exchange.js';
import { Http1Server } from './http1-server.js';
import { serveWithNodeHttp } from './node-http-transport.js';

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
  /** A whole result body: the plane keeps it (null) or says what is wrong with it. */
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
  /** Plain HTTP: read result bodies straight into the run's buffers; false: copied chunk by chunk. @defaultValue true */
  readInPlace?: boolean;
  logger: Logger;
}

const ROUTE = /^\/v1\/runs\/([^/]+)\/batches\/(\d{1,15})\/(input|result)$/;

/**
 * The driver's endpoint of the direct plane: workers fetch the inputs of the batches the driver has
 * in flight and hand their results back, over HTTP/1.1: the zero-copy server (http1-server.ts) for
 * plain HTTP, node:https with a certificate. Each request must carry its run's secret; a request
 * for another run, a batch not in flight, an oversize, truncated or stalled body, or a result of the
 * wrong shape is refused and stores nothing.
 */
export class DirectServer {
  private readonly runs = new Map<string, DirectRunHandler>();
  private closeTransport: () => Promise<void> = async () => undefined;

  private constructor(
    /** What workers are told to connect to, e.g. `http://host:port`. */
    readonly url: string,
    readonly listening: Endpoint,
  ) {}

  static async start(o: DirectServerOptions): Promise<DirectServer> {
    const listen = parseEndpoint(o.listen ?? '127.0.0.1:0', '--listen');
    const stallTimeoutMs = o.stallTimeoutMs ?? 30_000;
    let self: DirectServer | null = null;
    const route = (head: RequestHead): Decision =>
      self ? self.route(head, o.logger) : { answer: text(503, 'starting') };
    const onStall = (head: RequestHead, received: number, length: number): void =>
      o.logger.warn({ path: head.path, received, length }, 'direct plane: a result body stalled; dropped');
    let bound: number;
    let close: () => Promise<void>;
    if (o.tls) {
      const server: HttpsServer = createHttpsServer({
        cert: readFileSync(o.tls.certFile),
        key: readFileSync(o.tls.keyFile),
      });
      serveWithNodeHttp(server, { route, stallTimeoutMs, onStall });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listen.port, listen.host, () => resolve());
      });
      bound = (server.address() as AddressInfo).port;
      close = async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      };
    } else {
      const server = new Http1Server({ route, stallTimeoutMs, onStall, readInPlace: o.readInPlace ?? true });
      bound = await server.listen(listen.port, listen.host);
      close = () => server.close();
    }
    const advertised = resolveAdvertised(listen, o.advertise, bound);
    const host = advertised.host.includes(':') ? `[${advertised.host}]` : advertised.host;
    self = new DirectServer(`${o.tls ? 'https' : 'http'}://${host}:${advertised.port}`, {
      host: listen.host,
      port: bound,
    });
    self.closeTransport = close;
    return self;
  }

  register(run: string, handler: DirectRunHandler): void {
    this.runs.set(run, handler);
  }

  unregister(run: string): void {
    this.runs.delete(run);
  }

  close(): Promise<void> {
    return this.closeTransport();
  }

  /** The routes: ping; GET an input; HEAD or PUT a result. */
  private route(head: RequestHead, logger: Logger): Decision {
    if (head.path === '/v1/ping' && head.method === 'GET') return { answer: text(200, 'cnsn direct plane') };
    const m = ROUTE.exec(head.path);
    if (!m) return { answer: text(404, 'no such endpoint') };
    const [, run = '', seqText = '', what] = m;
    const seq = Number(seqText);
    const h = RUN_ID_PATTERN.test(run) ? this.runs.get(run) : undefined;
    // The same answer for an unknown run and a wrong secret: nothing is said about other runs.
    if (!h || !authorized(head.headers.authorization, h.secret))
      return { answer: text(401, 'unauthorized', head.method === 'PUT') };
    if (what === 'input') {
      if (head.method !== 'GET') return { answer: text(405, 'GET an input') };
      const parts = h.input(seq);
      if (!parts) return { answer: text(404, `batch ${seq} is not in flight`) };
      h.served(parts.reduce((n, p) => n + p.byteLength, 0));
      return {
        answer: { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: parts },
      };
    }
    if (head.method === 'HEAD') return { answer: { status: h.received(seq) ? 200 : 404 } };
    if (head.method !== 'PUT') return { answer: text(405, 'PUT a result', true) };
    return this.receive(head, h, seq, logger);
  }

  /** A result body, straight into a buffer of the run's pool; kept only whole and well-formed. */
  private receive(head: RequestHead, h: DirectRunHandler, seq: number, logger: Logger): Decision {
    if (h.received(seq)) return { answer: text(200, `batch ${seq}: result received already`, true) };
    const limit = h.resultLimit(seq);
    if (limit === null) return { answer: text(409, `batch ${seq} is not in flight`, true) };
    const lengthText = head.headers['content-length'];
    const length = Number(lengthText);
    if (lengthText === undefined || !Number.isSafeInteger(length) || length <= 0)
      return { answer: text(411, 'a result needs its content-length', true) };
    if (length > limit) {
      logger.warn({ seq, length, limit }, 'direct plane: refused an oversize result body');
      return {
        answer: text(
          413,
          `batch ${seq}: a result of ${length} bytes exceeds the ${limit} a batch of its shape can have`,
          true,
        ),
      };
    }
    const into = h.take(length);
    return {
      receive: {
        into,
        complete: () => {
          const problem = h.accept(seq, into);
          if (!problem) return { status: 204 };
          h.give(into);
          logger.warn({ seq, problem }, 'direct plane: refused a result');
          return text(422, problem);
        },
        abandon: () => h.give(into),
      },
    };
  }
}

function authorized(header: string | undefined, secret: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(secret);
  return given.length === want.length && timingSafeEqual(given, want);
}
