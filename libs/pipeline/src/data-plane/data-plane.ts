import type { BatchJobData, DataPlaneKind } from '@cnsn/protocol';
import type { BufferPool } from './buffer-pool.js';

/**
 * The data plane: how a batch's tensor bytes travel between the driver and the workers. The
 * ordering, windowing, resume and fault logic (core/) talk only to these two interfaces; Redis
 * and BullMQ carry the jobs and the run state either way (control/).
 *
 * To add a plane: name it in protocol's `DATA_PLANE_JOBS`, implement both sides and its
 * `PlaneDefinition` in one file, and add it to `PLANE_REGISTRY` (plane-registry.ts): the pipeline,
 * the worker runtime, the CLI and every plane suite (plane-conformance.test.ts, the e2e suites) take
 * it from there.
 */
export interface DriverDataPlane {
  /** `redis` or `direct` (an in-memory plane in the unit tests). */
  readonly kind: string;
  /** What each job of the run carries besides run, seq, shape and size (the direct plane's secret). */
  readonly jobFields: Pick<BatchJobData, 'plane' | 'secret'>;
  /** Makes batch `seq`'s input (a tensor blob of `shape`, in parts, never joined) available to the workers. */
  putInput(seq: number, blob: Uint8Array[], shape: readonly number[]): Promise<void>;
  /** Whether batch `seq`'s input is available to the workers (Redis may have lost it). */
  hasInput(seq: number): Promise<boolean>;
  /**
   * Batch `seq`'s result blob once it has arrived, else null. It lies in a buffer taken from the
   * run's pool: the caller gives it back when the batch is delivered.
   */
  fetchResult(seq: number): Promise<Uint8Array | null>;
  /** Whether batch `seq`'s result has arrived. */
  hasResult(seq: number): Promise<boolean>;
  /** Batch `seq` was delivered or skipped: its bytes go, on both sides. */
  forget(seq: number): Promise<void>;
  /** Bytes this plane moved for the run so far (inputs served or stored, results received). */
  readonly bytesMoved: { in: number; out: number };
  /** Planes whose tensors lie in files on this host (shm): a local client's own way in and out. */
  readonly places?: PlacedTensors;
  close(): Promise<void>;
}

/** A tensor's float32 values in a file on this host. */
export interface PlacedData {
  path: string;
  offset: number;
  bytes: number;
}

/**
 * What a plane whose tensors are files offers a client on the same host (the Python client through
 * its gateway): it writes a batch's float32 values where `inputPlace` says and reads results where
 * they lie, so the driver's process never copies them.
 */
export interface PlacedTensors {
  /** The run's directory (spare files in `spare/` under it serve a client's writes too). */
  readonly dir: string;
  /** Where batch `seq`'s values go before `placeInput` (the file's data offset). */
  inputPlace(seq: number): { path: string; offset: number };
  /** Batch `seq`'s values are in place: writes its blob header (`prefix`). */
  placeInput(seq: number, prefix: Uint8Array): Promise<void>;
  /** Batch `seq`'s placed input, read back (to pass it through, or preview it); null when gone. */
  readInput(seq: number, shape: readonly number[]): Promise<Float32Array | null>;
  /** Batch `seq`'s result header and where its values lie; null until it has arrived. */
  resultPlace(seq: number): Promise<{ prefix: Uint8Array; data: PlacedData } | null>;
}

/** The worker's side: one per worker process, for every run whose jobs name this plane. */
export interface WorkerDataPlane {
  readonly kind: DataPlaneKind;
  /**
   * Fetches batch `job.seq`'s input blob into `into(length)` (a reused buffer). Throws
   * {@link InputMissingError} when it is not there (yet): the driver may be restarting.
   */
  fetchInput(job: BatchJobData, into: (length: number) => Uint8Array): Promise<Uint8Array>;
  /** Hands batch `job.seq`'s result blob (in parts, never joined) to the driver. */
  putResult(job: BatchJobData, blob: Uint8Array[]): Promise<void>;
  /** Whether the driver has batch `job.seq`'s result already (a redone job then does nothing). */
  hasResult(job: BatchJobData): Promise<boolean>;
  /** The run is gone: drop whatever the plane still holds of this batch. */
  discard(job: BatchJobData): Promise<void>;
  /** The worker forgot the run (it ended, or went idle): drop what is held for it. */
  forget?(run: string): void;
  close(): Promise<void>;
}

/** What a driver-side plane is opened with. */
export interface DriverPlaneContext {
  run: string;
  /** Where received results land (reused buffers, or new ones). */
  results: BufferPool;
  /** Largest blob accepted. */
  maxBlobBytes: number;
}

/** A batch's input is not on the data plane (yet): transient, the driver may put it there again. */
export class InputMissingError extends Error {
  override readonly name = 'InputMissingError';
}
