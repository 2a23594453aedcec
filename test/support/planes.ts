import { DATA_PLANES, type DataPlaneKind } from '@cnsn/protocol';

/**
 * The data planes every plane-sensitive suite runs on (as TESTED_BACKENDS for the kernels): every
 * plane there is, so a new plane gets the pipeline, fault and CLI suites without a line here.
 */
export const TESTED_PLANES: readonly DataPlaneKind[] = DATA_PLANES;
export type TestedPlane = DataPlaneKind;
