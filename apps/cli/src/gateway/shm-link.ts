import { closeSync, ftruncateSync, openSync, read, write } from 'node:fs';
import { promisify } from 'node:util';

// On libuv's thread pool: the event loop serves the workers meanwhile.
const readAt = promisify(read);
const writeAt = promisify(write);

/**
 * The data path of a run shared with its client through two files in shared memory (/dev/shm):
 * tensors are copied once on each side (numpy into the mapping, one pread here; one pwrite here,
 * numpy out of the mapping), instead of crossing a socket in 64 KiB reads that each allocate.
 * The client unlinks the files once both sides hold them open: nothing is left behind, however
 * either side ends. Measured against the socket: README, "The Python client".
 */
export interface ShmPaths {
  /** Where the client puts each batch it enqueues (offset 0; read before the enqueue is answered). */
  input: string;
  /** Where results go, in `slots` slots the client frees as it copies them out. */
  results: string;
  slots: number;
}

/** Rounds slot sizes to pages, so that a slot's data starts page-aligned. */
const PAGE = 4096;

export class ShmLink {
  private readonly inputFd: number;
  private readonly resultsFd: number;
  private slotBytes = 0;
  private readonly free: number[];
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(private readonly paths: ShmPaths) {
    if (!Number.isSafeInteger(paths.slots) || paths.slots < 1 || paths.slots > 64)
      throw new Error(`shm link: slots must be 1 to 64, got ${paths.slots}`);
    this.inputFd = openSync(paths.input, 'r');
    this.resultsFd = openSync(paths.results, 'r+');
    this.free = Array.from({ length: paths.slots }, (_, i) => i);
  }

  /** Reads the batch the client just put, `into.length` bytes, into `into`. */
  async readInput(into: Uint8Array): Promise<void> {
    for (let at = 0; at < into.length;) {
      const { bytesRead: n } = await readAt(this.inputFd, into, at, into.length - at, at);
      if (n === 0) throw new Error(`shm link: the input holds ${at} bytes, the client said ${into.length}`);
      at += n;
    }
  }

  /** Writes `parts` one after the other into a free slot; resolves with where they are. */
  async putResult(parts: readonly ArrayBufferView[]): Promise<{ slot: number; offset: number }> {
    const bytes = parts.reduce((sum, p) => sum + p.byteLength, 0);
    if (bytes > this.slotBytes) await this.grow(bytes);
    const slot = await this.takeSlot();
    const offset = slot * this.slotBytes;
    let at = offset;
    for (const part of parts) {
      const view = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
      for (let done = 0; done < view.length;)
        done += (await writeAt(this.resultsFd, view, done, view.length - done, at + done)).bytesWritten;
      at += view.length;
    }
    return { slot, offset };
  }

  /** The client copied slot `slot` out. */
  release(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.paths.slots || this.free.includes(slot)) return;
    this.free.push(slot);
    this.waiting.shift()?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of [this.inputFd, this.resultsFd]) {
      try {
        closeSync(fd);
      } catch {
        // closed already
      }
    }
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** Larger slots, once every slot is free (the client maps the file again when it grew). */
  private async grow(bytes: number): Promise<void> {
    while (this.free.length < this.paths.slots) await this.wait();
    this.slotBytes = Math.ceil(bytes / PAGE) * PAGE;
    ftruncateSync(this.resultsFd, this.slotBytes * this.paths.slots);
  }

  private async takeSlot(): Promise<number> {
    for (;;) {
      const slot = this.free.shift();
      if (slot !== undefined) return slot;
      await this.wait();
    }
  }

  private async wait(): Promise<void> {
    if (this.closed) throw new Error('shm link: closed');
    await new Promise<void>((r) => this.waiting.push(r));
    if (this.closed) throw new Error('shm link: closed');
  }
}
