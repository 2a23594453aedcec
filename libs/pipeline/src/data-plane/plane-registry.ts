import type { DataPlaneKind } from '@cnsn/protocol';
import { directPlane } from './direct/direct-plane.js';
import type { PlaneDefinition } from './plane-definition.js';
import { redisPlane } from './redis-plane.js';
import { shmPlane } from './shm/shm-plane.js';

/**
 * Every data plane, by name: the one place a plane is registered. The type demands an entry for
 * each name in protocol's DATA_PLANES, so a plane named there and not here does not compile.
 */
export const PLANE_REGISTRY: { readonly [K in DataPlaneKind]: PlaneDefinition & { kind: K } } = {
  redis: redisPlane,
  direct: directPlane,
  shm: shmPlane,
};

/** The registered planes, in DATA_PLANES order. */
export function registeredPlanes(): PlaneDefinition[] {
  return Object.values(PLANE_REGISTRY);
}
