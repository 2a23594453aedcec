import type { Socket } from 'node:net';
import { BufferPool, type DeliveredBatch, type PipelineRun, readPlaced } from '@cnsn/pipeline';
import type { SelfNormParamsSpec } from '@cnsn/protocol';
import { CliError } from '../cli-error.js';
import { renderBatchPreview } from '../preview/batch-preview.js';
import { errorFrame } from './error-frame.js';
import { type Frame, writeFrame } from './frames.js';
import type { ShmLink } from './shm-link.js';

/**
 * One run opened by a Python client: its feed connection (enqueue, reject, set_selfnorm, end,
 * close; one reply per request) and its results connection (every batch in order, then the end).
 * Inputs land in pooled buffers the run holds until the batch is delivered, then they are reused.
 */
export class GatewayRun {
  private readonly inputs = new BufferPool(true);
  private readonly held = new Map<number, Uint8Array>();
  private streaming = false;
  private wakeAsk: ((asked: boolean) => void) | null = null;
  /** The client asked for the next batch before the stream waited for it (a preview was slower). */
  private askedEarly = false;
  private closing: Promise<void> | null = null;

  constructor(
    /** What the client names the run by on its results connection. */
    readonly token: string,
    readonly run: PipelineRun,
    /** Publish a preview of every K-th batch (the run command's --preview-every); 0: none. */
    private readonly previewEvery: number,
    /** Tensors through shared memory; null: in the frames' payloads. */
    private readonly link: ShmLink | null,
  ) {}

  /**
   * Where the client writes inputs and reads results itself (the run's directory on a plane of files,
   * the values' offset in an input file), or null: tensors cross through the link or the frames.
   */
  get inPlace(): { dir: string; data_at: number } | null {
    const place = this.link && this.run.resultsInPlace ? this.run.placeFor(this.run.nextSeq) : null;
    return place ? { dir: place.dir, data_at: place.offset } : null;
  }

  /** Where an enqueue's payload lands: a pooled buffer, held until the batch is delivered. */
  allocInput(bytes: number): Uint8Array {
    return this.inputs.take(bytes);
  }

  /** Answers one request of the feed connection. */
  async feed(frame: Frame): Promise<Record<string, unknown>> {
    const { header, payload } = frame;
    switch (header.op) {
      case 'enqueue':
        return { seq: await this.enqueue(header, payload) };
      case 'reject':
        return { seq: await this.run.reject(String(header.reason ?? 'rejected by the client')) };
      case 'set_selfnorm':
        return { version: await this.run.setSelfNorm(header.params as SelfNormParamsSpec) };
      case 'end':
        await this.run.end();
        return {};
      case 'record_digest':
        await this.run.recordDigest(String(header.digest));
        return {};
      case 'consumer':
        if (typeof header.slot === 'number') this.link?.release(header.slot);
        void this.run.reportConsumer(Number(header.wait_ms), Number(header.hold_ms), Number(header.batches));
        if (header.next) {
          if (this.wakeAsk) this.wakeAsk(true);
          else this.askedEarly = true;
        }
        return {};
      case 'close':
        await this.close();
        return {};
      default:
        throw new CliError(`unknown request ${JSON.stringify(header.op)} on a run's feed`);
    }
  }

  private async enqueue(header: Record<string, unknown>, given: Uint8Array | null): Promise<number> {
    const shape = header.shape as number[];
    if (header.placed === true) return this.run.enqueuePlaced(shape, Number(header.seq));
    const payload =
      this.link && typeof header.shm_bytes === 'number' ? await this.fromLink(header.shm_bytes) : given;
    if (!payload || payload.byteLength % 4 !== 0) {
      this.inputs.give(payload);
      throw new CliError(`enqueue: the payload is not float32 data (${payload?.byteLength ?? 0} bytes)`);
    }
    const data = new Float32Array(payload.buffer, payload.byteOffset, payload.byteLength / 4);
    try {
      const seq = await this.run.enqueue(data, shape);
      this.held.set(seq, payload);
      return seq;
    } catch (err) {
      this.inputs.give(payload);
      throw err;
    }
  }

  private async fromLink(bytes: number): Promise<Uint8Array> {
    const payload = this.inputs.take(bytes);
    try {
      await this.link?.readInput(payload);
    } catch (err) {
      this.inputs.give(payload);
      throw err;
    }
    return payload;
  }

  /** Sends every result in order on `socket`, then `{end}` (or the error that ended the run). */
  async stream(socket: Socket): Promise<void> {
    if (this.streaming) throw new CliError(`run ${this.run.id}: its results are being read already`);
    this.streaming = true;
    // Skipped batches are not yielded by results(); they are sent in their place, in order.
    let sent: Promise<void> = Promise.resolve();
    const onSkipped = (seq: number, reason: string): void => {
      sent = sent.then(() => writeFrame(socket, { seq, status: 'skipped', reason }));
      this.release(seq);
    };
    this.run.on('skipped', onSkipped);
    try {
      for await (const batch of this.run.results()) {
        await sent;
        await this.send(socket, batch);
        // A batch counts delivered when the client asks for the next one (as results() has it):
        // a client that dies holding it gets it again when it resumes.
        if (!(await this.asked(socket))) {
          await this.close();
          break;
        }
      }
      await sent;
      await writeFrame(socket, {
        end: true,
        delivered: this.run.delivered,
        plane_bytes: this.run.planeBytes,
      });
    } catch (err) {
      await sent.catch(() => undefined);
      await writeFrame(socket, errorFrame(err)).catch(() => undefined);
    } finally {
      this.run.off('skipped', onSkipped);
    }
  }

  /** Resolves true when the client asks for the next batch, false when it is gone. */
  private asked(socket: Socket): Promise<boolean> {
    if (socket.destroyed) return Promise.resolve(false);
    if (this.askedEarly) {
      this.askedEarly = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const gone = (): void => settle(false);
      const settle = (asked: boolean): void => {
        socket.off('close', gone);
        this.wakeAsk = null;
        resolve(asked);
      };
      this.wakeAsk = settle;
      socket.once('close', gone);
    });
  }

  private async send(socket: Socket, batch: DeliveredBatch): Promise<void> {
    // A result in place: the client reads its values from the file; only the statistics follow.
    const payloads: ArrayBufferView[] = batch.place ? [] : [batch.data];
    if (batch.stats) payloads.push(batch.stats.mean, batch.stats.std);
    const shm = this.link && !batch.place ? await this.link.putResult(payloads) : null;
    await writeFrame(
      socket,
      {
        ...(batch.place ? { file: batch.place } : {}),
        ...(shm ? { shm: { ...shm, bytes: payloads.reduce((n, p) => n + p.byteLength, 0) } } : {}),
        seq: batch.seq,
        shape: batch.shape,
        status: batch.status,
        ...(batch.reason ? { reason: batch.reason } : {}),
        plan: batch.plan,
        selfnorm_version: batch.selfnormVersion ?? 0,
        stats: batch.stats ? true : false,
        worker: batch.worker ?? null,
        backend: batch.backend ?? null,
      },
      shm ? [] : payloads,
    );
    if (this.previewEvery && batch.seq % this.previewEvery === 0 && batch.status === 'ok')
      await this.preview(batch);
    this.release(batch.seq);
  }

  /** The input beside the output, for the dashboard (the run still holds the input). */
  private async preview(batch: DeliveredBatch): Promise<void> {
    const input = await this.run.inputOf(batch.seq);
    const output = batch.place ? await readPlaced(batch.place).catch(() => null) : batch.data;
    if (!input || !output) return;
    const png = renderBatchPreview({
      run: this.run.id,
      seq: batch.seq,
      shape: batch.shape,
      input: input.data,
      output,
      plan: batch.plan,
      label: `batch ${batch.seq}`,
    });
    await this.run.publishPreview(batch.seq, png);
  }

  private release(seq: number): void {
    this.inputs.give(this.held.get(seq));
    this.held.delete(seq);
  }

  /** Closes the run once, whoever asks (the client, its connection dropping, the gateway stopping). */
  close(): Promise<void> {
    this.closing ??= this.run.close().finally(() => this.link?.close());
    return this.closing;
  }
}
