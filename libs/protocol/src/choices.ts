// The enumerations of the protocol, with no imports: the option declarations and the schemas both
// read them (a cycle between the two would leave one of them undefined at load).

/** The four crop modes of `cn_op_2ins_space_chan`. */
export const CROPS = ['neither', 'style', 'content', 'both'] as const;

export const SELFNORM_MODES = ['train', 'eval'] as const;
export type SelfNormModeSpec = (typeof SELFNORM_MODES)[number];

/** What a failed batch becomes: `fail` stops the run, `skip` drops it, `passthrough` delivers it unaugmented. */
export const ON_ERROR = ['fail', 'skip', 'passthrough'] as const;
export type OnError = (typeof ON_ERROR)[number];

/**
 * How a run's tensor bytes travel (through Redis, straight between driver and workers, or through shared memory on one host), each
 * with what its jobs carry: the one place a plane is named (its code registers in the pipeline's
 * PLANE_REGISTRY, which the type system holds to this list).
 */
export const DATA_PLANE_JOBS = {
  redis: { secret: false },
  direct: { secret: true },
  shm: { secret: false },
} as const satisfies Record<string, { secret: boolean }>;
export type DataPlaneKind = keyof typeof DATA_PLANE_JOBS;
export const DATA_PLANES = Object.keys(DATA_PLANE_JOBS) as [DataPlaneKind, ...DataPlaneKind[]];
