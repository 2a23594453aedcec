import { randomBytes } from 'node:crypto';
import type { PlaneDefinition } from '../plane-definition.js';
import { DirectDriverPlane } from './direct-driver-plane.js';
import { DirectWorkerPlane } from './direct-worker-plane.js';

/** The direct plane: tensors straight between the driver's endpoint and the workers. */
export const directPlane: PlaneDefinition & { kind: 'direct' } = {
  kind: 'direct',
  summary: "tensors straight between the driver's HTTP endpoint and the workers (Redis carries only jobs)",
  async openDriver(host, spec, ctx) {
    const server = await host.directServer();
    // The secret stays with the run: jobs queued by an earlier driver of it carry it.
    const secret = (await host.state.secret(spec.run)) ?? randomBytes(32).toString('base64url');
    const plane = new DirectDriverPlane(server, { ...ctx, secret, wire: spec.wire });
    await host.state.setEndpoint(spec.run, server.url, secret);
    return plane;
  },
  openWorker: (host) =>
    new DirectWorkerPlane({
      state: host.state,
      maxBlobBytes: host.maxBlobBytes,
      ...(host.transport ? { transport: host.transport } : {}),
      ...(host.caFile ? { caFile: host.caFile } : {}),
    }),
};
