import { createServer, type Server, Socket } from 'node:net';
import {
  type Answer,
  type Decision,
  type Receive,
  reasonOf,
  type RequestHead,
  type Router,
} from './http-exchange.js';

/** Largest request head (request line and headers). */
const MAX_HEAD = 16 * 1024;

export interface Http1ServerOptions {
  route: Router;
  /** A body that sends nothing this long is abandoned and the connection closed. */
  stallTimeoutMs: number;
  /** A request head must arrive within this. @defaultValue 20000 */
  headTimeoutMs?: number;
  /** Told when a body stalls (for the driver's log). */
  onStall?: (head: RequestHead, received: number, length: number) => void;
  /** Read bodies straight into their buffers (onread); false: ordinary 'data' events. @defaultValue true */
  readInPlace?: boolean;
}

/**
 * The driver's plain-HTTP endpoint: HTTP/1.1 with content-length bodies and keep-alive, as much of
 * it as the direct plane's requests use (GET, HEAD, PUT; no chunked bodies, no pipelining beyond
 * order). A PUT's body is read by the kernel straight into the buffer its route gives (net.Socket's
 * `onread` on the accepted connection): no 64 KiB chunk allocated per read and copied, as
 * node:http does. Measured here for a 6.4 MB body: 1.65 ms of CPU against 6.2 with node:http
 * (`npm run cnsn -- bench transport`). Where Node does not expose the accepted socket's handle, it reads
 * with ordinary 'data' events instead (a copy per chunk).
 */
export class Http1Server {
  private readonly server: Server;
  private readonly connections = new Set<Connection>();

  constructor(private readonly o: Http1ServerOptions) {
    this.server = createServer({ pauseOnConnect: true }, (raw) => {
      const conn = new Connection(raw, o, () => this.connections.delete(conn));
      this.connections.add(conn);
    });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

type Phase = { kind: 'head' } | { kind: 'body'; head: RequestHead; receive: Receive; at: number };

class Connection {
  private readonly head = Buffer.alloc(MAX_HEAD);
  /** Where reads go once the head buffer is full and the connection is being refused. */
  private readonly scratch = Buffer.alloc(1024);
  private headLength = 0;
  private phase: Phase = { kind: 'head' };
  private readonly socket: Socket;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(
    raw: Socket,
    private readonly o: Http1ServerOptions,
    onGone: () => void,
  ) {
    // Re-wrap the accepted connection so that reads land where this connection says (onread).
    const handle = o.readInPlace === false ? null : (raw as unknown as { _handle?: unknown })._handle;
    if (handle) {
      (raw as unknown as { _handle: unknown })._handle = null;
      raw.destroy();
      this.socket = new Socket({
        handle,
        onread: { buffer: () => this.readTarget(), callback: (n: number) => (this.onRead(n), true) },
      } as ConstructorParameters<typeof Socket>[0]);
    } else {
      this.socket = raw;
      raw.on('data', (chunk: Buffer) => this.onChunk(chunk));
    }
    this.socket.setNoDelay(true);
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.clearTimer();
      if (this.phase.kind === 'body') this.phase.receive.abandon('the client went away mid-body');
      this.phase = { kind: 'head' };
      onGone();
    });
    this.armTimer(this.o.headTimeoutMs ?? 20_000);
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Where the next read goes: the body's place while a body is due, else the head buffer. */
  private readTarget(): Uint8Array {
    if (this.phase.kind === 'body') return this.phase.receive.into.subarray(this.phase.at);
    return this.headLength < MAX_HEAD ? this.head.subarray(this.headLength) : this.scratch;
  }

  private onRead(n: number): void {
    if (this.phase.kind === 'body') return this.bodyArrived(n);
    if (this.closing || this.headLength >= MAX_HEAD) return;
    this.headLength += n;
    this.parseHeads();
  }

  /** The fallback path: a chunk from a 'data' event, copied where it belongs. */
  private onChunk(chunk: Buffer): void {
    let at = 0;
    while (at < chunk.length && !this.closing) {
      const target = this.readTarget();
      const n = Math.min(target.length, chunk.length - at);
      if (n === 0) return this.fail(431, 'request head too large');
      target.set(chunk.subarray(at, at + n));
      at += n;
      this.onRead(n);
    }
  }

  private parseHeads(): void {
    for (;;) {
      if (this.closing || this.phase.kind !== 'head') return;
      const buffered = this.head.subarray(0, this.headLength);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headLength >= MAX_HEAD) this.fail(431, 'request head too large');
        return;
      }
      const head = parseRequestHead(buffered.toString('latin1', 0, end));
      const rest = Buffer.from(buffered.subarray(end + 4));
      this.headLength = 0;
      if (!head) return this.fail(400, 'malformed request');
      if (head.headers['transfer-encoding'])
        return this.fail(411, 'a body needs a content-length (no transfer-encoding)');
      const decision: Decision = this.o.route(head);
      if ('answer' in decision) {
        if (head.method !== 'PUT' && Number(head.headers['content-length'] ?? 0) > 0)
          return this.fail(400, 'this request takes no body');
        this.send(decision.answer, head.method === 'HEAD');
        if (decision.answer.close || head.headers.connection === 'close') return this.end();
        if (head.method === 'PUT' && Number(head.headers['content-length'] ?? 0) > 0) return this.end(); // its body is unread
      } else {
        if (head.headers.expect?.toLowerCase() === '100-continue')
          this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        this.phase = { kind: 'body', head, receive: decision.receive, at: 0 };
        this.armTimer(this.o.stallTimeoutMs);
        if (decision.receive.into.length === 0) this.bodyArrived(0);
      }
      // What came after the head: the body's first bytes, or the next request.
      if (rest.length) this.replay(rest);
      this.armIdle();
    }
  }

  /** Bytes that arrived with a head, fed again as if just read. */
  private replay(bytes: Buffer): void {
    let at = 0;
    while (at < bytes.length && !this.closing) {
      const target = this.readTarget();
      const n = Math.min(target.length, bytes.length - at);
      if (n === 0) return this.fail(431, 'request head too large');
      target.set(bytes.subarray(at, at + n));
      at += n;
      if (this.phase.kind === 'body') this.bodyArrived(n);
      else this.headLength += n;
    }
  }

  private bodyArrived(n: number): void {
    const phase = this.phase;
    if (phase.kind !== 'body') return;
    phase.at += n;
    this.armTimer(this.o.stallTimeoutMs);
    if (phase.at < phase.receive.into.length) return;
    this.phase = { kind: 'head' };
    const answer = phase.receive.complete();
    this.send(answer, false);
    if (answer.close || phase.head.headers.connection === 'close') return this.end();
    this.armIdle();
    if (this.headLength) this.parseHeads();
  }

  private send(answer: Answer, headOnly: boolean): void {
    const body = typeof answer.body === 'string' ? [Buffer.from(answer.body)] : (answer.body ?? []);
    const length = body.reduce((n, p) => n + p.byteLength, 0);
    const headers: Record<string, string | number> = { ...answer.headers };
    if (answer.status !== 204) headers['content-length'] = length;
    if (answer.close) headers.connection = 'close';
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    this.socket.cork();
    this.socket.write(`HTTP/1.1 ${answer.status} ${reasonOf(answer.status)}\r\n${lines.join('')}\r\n`);
    if (!headOnly) for (const part of body) this.socket.write(part);
    this.socket.uncork();
  }

  private fail(status: number, why: string): void {
    if (this.phase.kind === 'body') this.phase.receive.abandon(why);
    this.phase = { kind: 'head' };
    this.send(
      { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: why, close: true },
      false,
    );
    this.end();
  }

  private end(): void {
    this.closing = true;
    this.clearTimer();
    this.socket.end();
  }

  /** Between requests: idle keep-alive connections close after a minute. */
  private armIdle(): void {
    if (this.phase.kind === 'head' && this.headLength === 0) this.armTimer(60_000);
  }

  private armTimer(ms: number): void {
    this.clearTimer();
    this.timer = setTimeout(() => this.timedOut(), ms);
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private timedOut(): void {
    const phase = this.phase;
    if (phase.kind === 'body') {
      this.o.onStall?.(phase.head, phase.at, phase.receive.into.length);
      phase.receive.abandon('the body stalled');
      this.phase = { kind: 'head' };
      this.send({ status: 408, body: 'the body stalled', close: true }, false);
    }
    this.closing = true;
    this.socket.destroy();
  }
}

/** Parses a request head; null when it is not an HTTP/1.1 request this server takes. */
function parseRequestHead(text: string): RequestHead | null {
  const [requestLine = '', ...lines] = text.split('\r\n');
  const m = /^([A-Z]+) (\/\S*) HTTP\/1\.[01]$/.exec(requestLine);
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { method: m[1] as string, path: m[2] as string, headers };
}
