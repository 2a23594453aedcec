import type { DataPlaneKind, Keyspace, RunSpec } from '@cnsn/protocol';
import type { BlobStore } from '../redis/blob-connection.js';
import type { RunState } from '../run-state.js';
import type { DriverDataPlane, DriverPlaneContext, WorkerDataPlane } from './data-plane.js';
import type { DirectServer } from './direct/direct-server.js';
import type { WorkerTransport } from './direct/worker-transport.js';

/** What a driver offers a plane it opens: its Redis parts, and its endpoint (started on demand). */
export interface DriverPlaneHost {
  blobs: BlobStore;
  keys: Keyspace;
  state: RunState;
  directServer(): Promise<DirectServer>;
}

/** What a worker offers the planes it opens. */
export interface WorkerPlaneHost {
  blobs: BlobStore;
  keys: Keyspace;
  state: RunState;
  maxBlobBytes: number;
  transport?: WorkerTransport;
  caFile?: string;
}

/**
 * One data plane: how a run's tensors travel, both sides. The pipeline, the worker runtime, the
 * CLI and the test suites iterate the registry (plane-registry.ts) of these; a new plane is a file
 * with its definition and one line there (and its name in protocol's DATA_PLANES).
 */
export interface PlaneDefinition {
  readonly kind: DataPlaneKind;
  /** One line for --help and status: what the plane moves and where. */
  readonly summary: string;
  /** Opens the driver's side of a run on this plane. */
  openDriver(host: DriverPlaneHost, spec: RunSpec, ctx: DriverPlaneContext): Promise<DriverDataPlane>;
  /** Opens a worker's side (one per worker process, serving every run on this plane). */
  openWorker(host: WorkerPlaneHost): WorkerDataPlane;
}
