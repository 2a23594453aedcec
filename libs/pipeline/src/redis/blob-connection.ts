import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { RedisConnectionError } from '../errors.js';
import { withBackoff } from '../backoff.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, redactUrl, type RedisTarget } from './redis-connection.js';
import { isRefusedForGood } from './redis-errors.js';
import { type BulkSink, RespError, RespParser, type RespReply } from './resp-parser.js';

/** One argument of a command: text, bytes, or bytes in parts (sent with one writev, never joined). */
export type BlobArg = string | Uint8Array | Uint8Array[];

interface Pending {
  resolve: (reply: RespReply) => void;
  reject: (err: Error) => void;
  sink: BulkSink | undefined;
}

const CRLF = Buffer.from('\r\n');

/**
 * The commands this connection sends. A command whose reply is lost to a disconnect is sent again,
 * so each must be idempotent: doing it twice is doing it once.
 */
export const IDEMPOTENT_COMMANDS = new Set([
  'GET',
  'SET',
  'EXISTS',
  'STRLEN',
  'UNLINK',
  'DEL',
  'PING',
  'INFO',
  // Read-only on a cluster: its slot map (SLOTS), and the one-command redirection flag (ASKING).
  'CLUSTER',
  'ASKING',
]);

/** What the redis plane moves blobs with: one server's connection, or a cluster's (ClusterBlobs). */
export interface BlobStore {
  command(args: BlobArg[], sink?: BulkSink): Promise<RespReply>;
  close(): void;
}

/** How one command is sent. */
export interface BlobCommandOptions {
  /** Send ASKING first, on the same connection (a cluster's ASK redirection). @defaultValue false */
  asking?: boolean;
  /**
   * Give up on a lost connection after this long instead of waiting for the server to come back (a
   * cluster routes around a dead node). @defaultValue never
   */
  retryForMs?: number;
}

/**
 * A Redis connection for tensor blobs only. ioredis joins every Buffer argument into one new
 * buffer and concatenates large replies; at megabytes a batch that is two copies and a full GC per
 * batch. Here a blob goes out in parts with one writev, and a GET lands straight in the caller's
 * buffer. Commands are retried across reconnects (every command sent here is idempotent).
 */
export class BlobConnection implements BlobStore {
  private socket: Socket | null = null;
  private connecting: Promise<void> | null = null;
  private readonly queue: Pending[] = [];
  private readonly parser: RespParser;
  private closed = false;

  private constructor(private readonly target: RedisTarget) {
    this.parser = new RespParser(
      (reply) => this.settle(reply),
      () => this.queue[0]?.sink,
    );
  }

  /**
   * Connects, authenticates and selects the database of the URL. A refused or reset connection is
   * retried for `connectTimeoutMs`; a refusal for good (password, ACL, TLS) fails at once.
   */
  static async open(
    target: RedisTarget,
    options: { connectTimeoutMs?: number } = {},
  ): Promise<BlobConnection> {
    const c = new BlobConnection(target);
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    try {
      await withBackoff(() => c.ensure(), {
        deadline: Date.now() + timeoutMs,
        retryable: (err) => !isRefusedForGood(err),
      });
    } catch (err) {
      if (err instanceof RedisConnectionError) throw err;
      throw new RedisConnectionError(
        `cannot connect to ${redactUrl(target.url)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    return c;
  }

  /**
   * Sends a command and resolves with its reply (errors reject with RespError). `sink` receives a
   * top-level bulk reply. Connection faults are retried with backoff until Redis is back, which is
   * why only {@link IDEMPOTENT_COMMANDS} are accepted.
   */
  async command(args: BlobArg[], sink?: BulkSink, options: BlobCommandOptions = {}): Promise<RespReply> {
    const name = typeof args[0] === 'string' ? args[0].toUpperCase() : '';
    if (!IDEMPOTENT_COMMANDS.has(name))
      throw new Error(
        `blob connection: ${name || 'this command'} is not idempotent, and commands here are retried`,
      );
    return withBackoff(
      async () => {
        if (this.closed) throw new Error('blob connection closed');
        await this.ensure();
        if (!options.asking) return this.send(args, sink);
        // Both written before either reply is read: nothing can come between them on the socket.
        const asked = this.send(['ASKING']);
        const reply = this.send(args, sink);
        await asked;
        return reply;
      },
      {
        retryable: (err) => !(err instanceof RespError || err instanceof RedisConnectionError),
        stopped: () => this.closed,
        ...(options.retryForMs === undefined ? {} : { deadline: Date.now() + options.retryForMs }),
      },
    );
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
    this.socket = null;
    this.failAll(new Error('blob connection closed'));
  }

  private send(args: BlobArg[], sink?: BulkSink): Promise<RespReply> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error('not connected'));
    return new Promise<RespReply>((resolve, reject) => {
      this.queue.push({ resolve, reject, sink });
      socket.cork();
      socket.write(`*${args.length}\r\n`);
      for (const arg of args) {
        if (typeof arg === 'string') {
          socket.write(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
          continue;
        }
        const parts = Array.isArray(arg) ? arg : [arg];
        socket.write(`$${parts.reduce((n, p) => n + p.byteLength, 0)}\r\n`);
        for (const p of parts) socket.write(p);
        socket.write(CRLF);
      }
      socket.uncork();
    });
  }

  private settle(reply: RespReply): void {
    const head = this.queue.shift();
    if (!head) return;
    if (reply instanceof RespError) head.reject(reply);
    else head.resolve(reply);
  }

  private failAll(err: Error): void {
    for (const p of this.queue.splice(0)) p.reject(err);
  }

  private ensure(): Promise<void> {
    if (this.socket) return Promise.resolve();
    this.connecting ??= this.dial().finally(() => (this.connecting = null));
    return this.connecting;
  }

  private async dial(): Promise<void> {
    const url = new URL(this.target.url);
    const host = url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    const port = Number(url.port || 6379);
    const secure = url.protocol === 'rediss:';
    const caFile = this.target.caFile ?? process.env.CNSN_REDIS_CA;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = secure
        ? tlsConnect({ host, port, servername: host, ...(caFile ? { ca: readFileSync(caFile) } : {}) }, () =>
            resolve(s),
          )
        : // Plain TCP: bulk replies are read by the kernel straight into their buffers (onread).
          netConnect(
            {
              host,
              port,
              onread: {
                buffer: () => this.parser.readTarget(),
                callback: (n: number) => {
                  try {
                    this.parser.read(n);
                  } catch (err) {
                    s.destroy(err as Error);
                  }
                  return true;
                },
              },
            },
            () => resolve(s),
          );
      s.once('error', reject);
    });
    socket.setNoDelay(true);
    this.parser.reset();
    // TLS decrypts in user space: its chunks are fed as they come.
    if (secure)
      socket.on('data', (chunk: Buffer) => {
        try {
          this.parser.feed(chunk);
        } catch (err) {
          socket.destroy(err as Error);
        }
      });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      this.failAll(new Error('connection to Redis lost'));
    });
    this.socket = socket;
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    let step = 'AUTH';
    try {
      if (password) await this.send(user ? ['AUTH', user, password] : ['AUTH', password]);
      step = 'SELECT';
      const db = url.pathname.replace(/^\//, '');
      if (db) await this.send(['SELECT', db]);
      await this.send(['CLIENT', 'SETNAME', 'cnsn-blobs']);
    } catch (err) {
      socket.destroy();
      this.socket = null;
      // The server refused us (any refusal of AUTH, whatever its code: servers before Redis 6 say
      // ERR), as opposed to a connection that broke meanwhile.
      if (err instanceof RespError && (step === 'AUTH' || isRefusedForGood(err)))
        throw new RedisConnectionError(
          `cannot connect to ${redactUrl(this.target.url)}: ${(err as Error).message}`,
          { cause: err },
        );
      throw err;
    }
  }
}
