import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Pipeline } from '@cnsn/pipeline';
import { warmUp } from '../bench/warm-up.js';
import { CliError } from '../cli-error.js';
import { errorFrame } from './error-frame.js';
import { type Frame, FrameReader, writeFrame } from './frames.js';
import { GatewayRun } from './gateway-run.js';
import { openOptionsFrom } from './open-options.js';
import { ShmLink, type ShmPaths } from './shm-link.js';

/**
 * The gateway's Unix socket. A connection's first request says what it is: `open_run` makes it the
 * feed of a new run (its reply carries the run's token), `results` with a token makes it the stream
 * of that run's results, `info` answers and leaves it open. Runs close when their feed drops.
 */
export class GatewayServer {
  private readonly runs = new Map<string, GatewayRun>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly info: Record<string, unknown>,
    /** The gateway's local workers (a warm-up waits until each has done a batch). */
    private readonly workerIds: string[],
  ) {
    this.server = createServer((socket) => this.accept(socket));
  }

  async listen(path: string): Promise<void> {
    await rm(path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(path, () => resolve());
    });
  }

  /** Closes every run (unfinished ones stay resumable in Redis), then the socket. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.runs.values()].map((r) => r.close()));
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    let role: GatewayRun | null = null;
    let chain: Promise<void> = Promise.resolve();
    const reader = new FrameReader(
      (header, bytes) =>
        role && header.op === 'enqueue'
          ? role.allocInput(bytes)
          : new Uint8Array(Buffer.allocUnsafeSlow(bytes)),
      (frame) => {
        chain = chain.then(async () => {
          role = await this.handle(socket, role, frame);
        });
      },
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (role && this.runs.get(role.token) === role) {
        this.runs.delete(role.token);
        void role.close().catch(() => undefined);
      }
    });
  }

  /** Answers one frame; returns the connection's run once it is a feed. */
  private async handle(socket: Socket, role: GatewayRun | null, frame: Frame): Promise<GatewayRun | null> {
    try {
      if (role) {
        await writeFrame(socket, await role.feed(frame));
        return role;
      }
      switch (frame.header.op) {
        case 'info':
          await writeFrame(socket, this.info);
          return null;
        case 'warm_up':
          await warmUp(this.pipeline, String(frame.header.data_plane ?? 'auto'), this.workerIds);
          await writeFrame(socket, {});
          return null;
        case 'open_run':
          return await this.openRun(socket, frame.header);
        case 'results':
          await this.streamResults(socket, String(frame.header.token));
          return null;
        default:
          throw new CliError(`unknown request ${JSON.stringify(frame.header.op)}`);
      }
    } catch (err) {
      await writeFrame(socket, errorFrame(err)).catch(() => undefined);
      return role;
    }
  }

  private async openRun(socket: Socket, header: Record<string, unknown>): Promise<GatewayRun> {
    const given = (header.options ?? {}) as Record<string, unknown>;
    const options = openOptionsFrom(given);
    const link = header.shm ? new ShmLink(header.shm as ShmPaths) : null;
    let run;
    try {
      // A client with a shm link is on this host: on a plane of files it reads and writes them itself.
      run = await this.pipeline.openRun({
        ...options,
        reuseResultBuffers: true,
        resultsInPlace: link !== null,
        ...(link ? { localPlane: 'shm' as const } : {}),
      });
    } catch (err) {
      link?.close();
      throw err;
    }
    const token = randomBytes(12).toString('hex');
    const gatewayRun = new GatewayRun(token, run, Number(given.preview_every ?? 0), link);
    this.runs.set(token, gatewayRun);
    await writeFrame(socket, {
      run: run.id,
      token,
      next_seq: run.nextSeq,
      data_plane: run.dataPlane,
      plane_choice: run.planeChoice,
      wire: run.spec.wire,
      max_in_flight: run.maxInFlight,
      resumed: run.resumed,
      in_place: gatewayRun.inPlace,
    });
    return gatewayRun;
  }

  private async streamResults(socket: Socket, token: string): Promise<void> {
    const run = this.runs.get(token);
    if (!run) throw new CliError('results: no open run has this token; open the run on this gateway first');
    // Acks from the client carry its consumer figures; nothing else is read on this connection.
    const reader = new FrameReader(
      (_, bytes) => new Uint8Array(bytes),
      (frame) => {
        if (frame.header.op === 'consumer') void run.feed(frame).catch(() => undefined);
      },
    );
    socket.removeAllListeners('data');
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    await run.stream(socket);
  }
}
