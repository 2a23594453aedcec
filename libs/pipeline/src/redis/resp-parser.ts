/** A RESP2 reply: simple string, error, integer, bulk (Uint8Array or null), or array (or null). */
export type RespReply = string | number | Uint8Array | null | RespError | RespReply[];

/** An error reply (`-ERR ...`): Redis refused the command. */
export class RespError extends Error {
  override readonly name = 'RespError';
}

/** Where a top-level bulk reply of `length` bytes is written: lets GET land in a caller's buffer. */
export type BulkSink = (length: number) => Uint8Array;

interface Frame {
  items: RespReply[];
  remaining: number;
}

/**
 * Incremental RESP2 parser. Bulk payloads are copied once, straight from the socket chunks into
 * their destination (a sink's buffer for large values), never accumulated and concatenated.
 */
export class RespParser {
  private pending: Buffer = Buffer.alloc(0);
  private bulk: { target: Uint8Array; filled: number; view: Uint8Array } | null = null;
  private skipCrlf = 0;
  private stack: Frame[] = [];

  constructor(
    private readonly onReply: (reply: RespReply) => void,
    private readonly nextSink: () => BulkSink | undefined,
  ) {}

  /** Where the next bytes from the socket should go (net.Socket `onread`): see {@link RespParser.read}. */
  private readonly scratch = Buffer.alloc(64 * 1024);

  /**
   * The pull side, for a socket that reads where it is told (`onread`): while a bulk payload is
   * due, the rest of it (its buffer, often the caller's own); else a scratch buffer for reply lines.
   */
  readTarget(): Uint8Array {
    const b = this.bulk;
    if (b && b.filled < b.target.length) return b.target.subarray(b.filled);
    return this.scratch;
  }

  /** `n` bytes arrived where {@link readTarget} said. */
  read(n: number): void {
    const b = this.bulk;
    if (b && b.filled < b.target.length) {
      b.filled += n;
      if (b.filled === b.target.length) this.skipCrlf = 2;
      return;
    }
    // Lines (and whatever of a bulk came with them) through the chunk path: small, copied once.
    this.feed(this.scratch.subarray(0, n));
  }

  reset(): void {
    this.pending = Buffer.alloc(0);
    this.bulk = null;
    this.skipCrlf = 0;
    this.stack = [];
  }

  feed(chunk: Buffer): void {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    let at = 0;
    while (at < data.length) {
      if (this.skipCrlf) {
        const n = Math.min(this.skipCrlf, data.length - at);
        this.skipCrlf -= n;
        at += n;
        if (this.skipCrlf === 0 && this.bulk) {
          const done = this.bulk.view;
          this.bulk = null;
          this.emit(done);
        }
        continue;
      }
      if (this.bulk) {
        const b = this.bulk;
        const n = Math.min(b.target.length - b.filled, data.length - at);
        b.target.set(data.subarray(at, at + n), b.filled);
        b.filled += n;
        at += n;
        if (b.filled === b.target.length) this.skipCrlf = 2;
        continue;
      }
      const eol = data.indexOf(13, at);
      if (eol < 0 || eol + 1 >= data.length) {
        this.pending = Buffer.from(data.subarray(at));
        return;
      }
      const type = data[at];
      const line = data.toString('latin1', at + 1, eol);
      at = eol + 2;
      switch (type) {
        case 43: // +
          this.emit(line);
          break;
        case 45: // -
          this.emit(new RespError(line));
          break;
        case 58: // :
          this.emit(Number(line));
          break;
        case 36: {
          // $
          const len = Number(line);
          if (len < 0) {
            this.emit(null);
            break;
          }
          const sink = this.stack.length === 0 ? this.nextSink() : undefined;
          const target = sink ? sink(len) : new Uint8Array(len);
          const view = target.length === len ? target : target.subarray(0, len);
          this.bulk = { target: view, filled: 0, view };
          if (len === 0) this.skipCrlf = 2;
          break;
        }
        case 42: {
          // *
          const n = Number(line);
          if (n < 0) this.emit(null);
          else if (n === 0) this.emit([]);
          else this.stack.push({ items: [], remaining: n });
          break;
        }
        default:
          throw new Error(`RESP protocol error: unexpected byte ${type}`);
      }
    }
  }

  private emit(reply: RespReply): void {
    let value = reply;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        this.onReply(value);
        return;
      }
      top.items.push(value);
      if (--top.remaining > 0) return;
      this.stack.pop();
      value = top.items;
    }
  }
}
