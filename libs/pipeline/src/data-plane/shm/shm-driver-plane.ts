import type { DriverDataPlane, DriverPlaneContext, PlacedData, PlacedTensors } from '../data-plane.js';
import {
  DATA_AT,
  exists,
  inputFile,
  readBlobFile,
  readBlobPlace,
  readFileRange,
  removeRunDir,
  resultFile,
  retireFiles,
  writeBlobFile,
  writeBlobHeader,
} from './shm-files.js';

const size = (parts: readonly Uint8Array[]): number => parts.reduce((n, p) => n + p.byteLength, 0);

/**
 * The shm plane, driver side: a batch's input is a file in the run's directory in /dev/shm, its
 * result another one the worker wrote there. No socket carries tensor bytes. A client on this host
 * may write inputs and read results in place (`places`), so that this process copies none.
 */
export class ShmDriverPlane implements DriverDataPlane, PlacedTensors {
  readonly kind = 'shm' as const;
  readonly jobFields = { plane: 'shm' } as const;
  readonly bytesMoved = { in: 0, out: 0 };
  readonly places: PlacedTensors = this;

  constructor(
    /** The run's directory (created by the plane's definition). */
    readonly dir: string,
    private readonly ctx: DriverPlaneContext,
  ) {}

  async putInput(seq: number, blob: Uint8Array[]): Promise<void> {
    await writeBlobFile(inputFile(this.dir, seq), blob);
    this.bytesMoved.in += size(blob);
  }

  inputPlace(seq: number): { path: string; offset: number } {
    return { path: inputFile(this.dir, seq), offset: DATA_AT };
  }

  async placeInput(seq: number, prefix: Uint8Array): Promise<void> {
    await writeBlobHeader(inputFile(this.dir, seq), prefix);
    // The prefix ends with the data's length (msgpack bin32, big-endian).
    const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
    this.bytesMoved.in += prefix.byteLength + view.getUint32(prefix.byteLength - 4);
  }

  async readInput(seq: number, shape: readonly number[]): Promise<Float32Array | null> {
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = await readFileRange(inputFile(this.dir, seq), DATA_AT, count * 4);
    return bytes && new Float32Array(bytes.buffer, bytes.byteOffset, count);
  }

  hasInput(seq: number): Promise<boolean> {
    return exists(inputFile(this.dir, seq));
  }

  async fetchResult(seq: number): Promise<Uint8Array | null> {
    const bytes = await readBlobFile(resultFile(this.dir, seq), this.ctx.maxBlobBytes, (length) =>
      this.ctx.results.take(length),
    );
    if (bytes) this.bytesMoved.out += bytes.byteLength;
    return bytes;
  }

  async resultPlace(seq: number): Promise<{ prefix: Uint8Array; data: PlacedData } | null> {
    const place = await readBlobPlace(resultFile(this.dir, seq));
    if (place) this.bytesMoved.out += place.prefix.byteLength + place.data.bytes;
    return place;
  }

  hasResult(seq: number): Promise<boolean> {
    return exists(resultFile(this.dir, seq));
  }

  forget(seq: number): Promise<void> {
    return retireFiles(this.dir, inputFile(this.dir, seq), resultFile(this.dir, seq));
  }

  /** The run's files go with its driver (as the direct plane's held inputs do). */
  close(): Promise<void> {
    return removeRunDir(this.dir);
  }
}
