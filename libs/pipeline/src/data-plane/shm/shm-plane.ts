import type { PlaneDefinition } from '../plane-definition.js';
import { ShmDriverPlane } from './shm-driver-plane.js';
import { makeRunDir, runDir, sweepStaleRunDirs } from './shm-files.js';
import { ShmWorkerPlane } from './shm-worker-plane.js';

/** The shm plane: tensors as files in /dev/shm, for workers on the driver's host. */
export const shmPlane: PlaneDefinition & { kind: 'shm' } = {
  kind: 'shm',
  summary:
    "tensors as files in shared memory (/dev/shm), for workers on the driver's host (no socket carries them)",
  async openDriver(host, spec, ctx) {
    const dir = runDir(host.keys.prefix, spec.run);
    await sweepStaleRunDirs();
    await makeRunDir(dir);
    return new ShmDriverPlane(dir, ctx);
  },
  openWorker: (host) => new ShmWorkerPlane(host.keys, host.maxBlobBytes),
};
