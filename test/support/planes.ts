/**
 * The data planes every plane-sensitive suite runs on (as TESTED_BACKENDS for the kernels): a new
 * plane joins here and gets the pipeline, fault and CLI suites.
 */
export const TESTED_PLANES = ['redis', 'direct'] as const;
export type TestedPlane = (typeof TESTED_PLANES)[number];
