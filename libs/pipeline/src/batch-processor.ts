import type { RunSpec } from '@cnsn/protocol';

/** What a worker knows of a batch besides its tensor. */
export interface BatchContext {
  spec: RunSpec;
  seq: number;
  /** The run's SelfNorm parameters (parsed JSON), or null without SelfNorm. */
  params: unknown;
}

/** What the worker records with a result, for the driver. */
export interface ProcessedMeta {
  plan: unknown;
  selfnormStats: unknown;
}

/**
 * The augmentation itself, supplied by the worker app (the pipeline knows nothing of the maths).
 * `process` must call `encode` synchronously with its output, before any await: a backend may hand
 * out a buffer it reuses for the next batch, and encoding copies it out. It returns what `encode`
 * returned (the result blob in parts).
 */
export interface BatchProcessor {
  /** Backend name, e.g. `fused`. */
  readonly backend: string;
  /** e.g. `fused (wasm-simd)`, or why `auto` chose it. */
  readonly backendDetail: string;
  process(
    input: { shape: number[]; data: Float32Array },
    ctx: BatchContext,
    encode: (data: Float32Array, meta: ProcessedMeta) => Uint8Array[],
  ): Promise<Uint8Array[]>;
  /** True when the error means this batch can never succeed (bad input): it fails without retries. */
  isPermanent(err: unknown): boolean;
  close(): Promise<void>;
}
