import type { Socket } from 'node:net';

/**
 * The gateway's wire format, both ways: a u32 little-endian header length, the header as UTF-8
 * JSON, then `header.bytes` bytes of payload (tensor data, raw little-endian). Tensors never pass
 * through JSON; the Python side reads them straight into numpy buffers (`recv_into`).
 */
export interface Frame {
  header: Record<string, unknown>;
  payload: Uint8Array | null;
}

/** Headers are small (a SelfNorm parameter set is the largest); a larger length is a broken stream. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

/** Where a frame's payload lands: the reader asks for a buffer of exactly its length. */
export type PayloadAllocator = (header: Record<string, unknown>, bytes: number) => Uint8Array;

/** Cuts a byte stream into frames; each payload is copied once, into the buffer `alloc` gives. */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private body: { header: Record<string, unknown>; payload: Uint8Array; at: number } | null = null;

  constructor(
    private readonly alloc: PayloadAllocator,
    private readonly onFrame: (frame: Frame) => void,
  ) {}

  push(chunk: Buffer): void {
    let rest: Buffer = chunk;
    while (rest.length) {
      if (this.body) {
        rest = this.fill(this.body, rest);
        continue;
      }
      this.pending = this.pending.length ? Buffer.concat([this.pending, rest]) : rest;
      rest = Buffer.alloc(0);
      rest = this.takeHeader() ?? rest;
    }
  }

  /** Copies what the body still needs from `chunk`; returns what is left of it. */
  private fill(body: NonNullable<FrameReader['body']>, chunk: Buffer): Buffer {
    const n = Math.min(body.payload.length - body.at, chunk.length);
    body.payload.set(chunk.subarray(0, n), body.at);
    body.at += n;
    if (body.at === body.payload.length) {
      this.body = null;
      this.onFrame({ header: body.header, payload: body.payload });
    }
    return chunk.subarray(n);
  }

  /** A whole header in `pending`: parse it; returns the bytes after it, or null while incomplete. */
  private takeHeader(): Buffer | null {
    if (this.pending.length < 4) return null;
    const length = this.pending.readUInt32LE(0);
    if (length > MAX_HEADER_BYTES) throw new Error(`frame header of ${length} bytes: the stream is broken`);
    if (this.pending.length < 4 + length) return null;
    const header = JSON.parse(this.pending.subarray(4, 4 + length).toString('utf8')) as Record<
      string,
      unknown
    >;
    const after = this.pending.subarray(4 + length);
    this.pending = Buffer.alloc(0);
    const bytes = typeof header.bytes === 'number' ? header.bytes : 0;
    if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`frame header: bad byte count ${bytes}`);
    if (bytes === 0) this.onFrame({ header, payload: null });
    else this.body = { header, payload: this.alloc(header, bytes), at: 0 };
    return after;
  }
}

/** The bytes of a header: its length, then its JSON. */
function headerBytes(header: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(4 + json.length);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 4);
  return out;
}

/**
 * Writes a frame: `header` with `bytes` set to the payloads' total, then the payloads as they are
 * (no copy). Resolves once the socket has taken every byte, so the caller may reuse the buffers.
 */
export function writeFrame(
  socket: Socket,
  header: Record<string, unknown>,
  payloads: readonly ArrayBufferView[] = [],
): Promise<void> {
  const bytes = payloads.reduce((sum, p) => sum + p.byteLength, 0);
  return new Promise<void>((resolve, reject) => {
    if (socket.destroyed) return reject(new Error('the client is gone'));
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    const parts = [
      headerBytes(bytes ? { ...header, bytes } : header),
      ...payloads.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength)),
    ];
    parts.forEach((part, i) => socket.write(part, i === parts.length - 1 ? done : undefined));
  });
}
