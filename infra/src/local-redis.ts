import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link LocalRedis}. */
export interface LocalRedisOptions {
  /** Port to listen on (loopback only). @defaultValue a free port */
  port?: number;
  /** Data directory. @defaultValue a new temporary directory, removed by `dispose()` */
  dir?: string;
  /** Append-only file on (fsync every second), as infra/redis.conf sets it. @defaultValue false */
  appendonly?: boolean;
  /** Extra `--name value` arguments for redis-server. @defaultValue [] */
  args?: string[];
  /** redis-server binary. @defaultValue `redis-server` from PATH */
  binary?: string;
}

/** Raised when redis-server is not installed: says how to get one or where to point instead. */
export class RedisServerMissingError extends Error {
  override readonly name = 'RedisServerMissingError';
  constructor(binary: string) {
    super(
      `${binary} not found on PATH: install it (apt-get install redis-server) or point at a server with --redis URL / REDIS_URL`,
    );
  }
}

/**
 * A private redis-server on a loopback port with its own temporary directory: what `npm start`,
 * `cnsn run` without --redis and the tests use. It can be stopped and started again on the same
 * port and directory (with `appendonly`, the data survives, as a production restart would).
 */
export class LocalRedis {
  readonly port: number;
  readonly dir: string;
  private child: ChildProcess | null = null;
  private readonly ownsDir: boolean;
  private readonly options: LocalRedisOptions;

  private constructor(port: number, dir: string, ownsDir: boolean, options: LocalRedisOptions) {
    this.port = port;
    this.dir = dir;
    this.ownsDir = ownsDir;
    this.options = options;
  }

  /** Starts a server and waits until it answers PING. */
  static async start(options: LocalRedisOptions = {}): Promise<LocalRedis> {
    const binary = options.binary ?? 'redis-server';
    if (spawnSync(binary, ['--version']).error) throw new RedisServerMissingError(binary);
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'cnsn-redis-')));
    const redis = new LocalRedis(port, dir, options.dir === undefined, options);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Starts the server process again (after `stop` or `kill`), same port and directory. */
  async restart(): Promise<void> {
    if (this.child) return;
    const o = this.options;
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      o.appendonly ? 'yes' : 'no',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...(o.args ?? []),
    ];
    const child = spawn(o.binary ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    child.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) =>
        reject(new Error(`redis-server exited with ${code} while starting: ${log.trim()}`)),
      ),
    );
    exited.catch(() => undefined);
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    await Promise.race([waitForPing(this.port, 15_000), exited]);
  }

  /** Stops the server gracefully (SIGTERM: Redis flushes the AOF) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Stops the process without closing its sockets (SIGSTOP): a Redis that hangs, as a stalled host does. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Lets a frozen server go on (SIGCONT). */
  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops the server and removes its temporary directory. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownsDir) await rm(this.dir, { recursive: true, force: true });
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(sig);
    await done;
  }
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ping(port)) return;
    if (Date.now() > deadline)
      throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    let answer = '';
    socket.setTimeout(1000);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      answer += d.toString();
      if (answer.includes('\r\n')) {
        socket.destroy();
        // "-LOADING" while an AOF replays: not ready yet. "-NOAUTH": up, and it wants a password.
        resolve(answer.startsWith('+PONG') || answer.startsWith('-NOAUTH'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
