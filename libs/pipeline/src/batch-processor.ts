import type { RunSpec, WireDtype } from '@cnsn/protocol';

/**
 * A batch's input as the processor gets it: float32 values, or, where the processor's inputTarget
 * took a 16-bit wire as it is, those values in `halves` (and `data` empty). `encode` then takes the
 * output in the same wire.
 */
export interface ProcessorInput {
  shape: number[];
  data: Float32Array;
  halves?: Uint16Array;
}

/** What a worker knows of a batch besides its tensor. */
export interface BatchContext {
  spec: RunSpec;
  seq: number;
  /** The batch's SelfNorm parameters (the set its job names, parsed JSON), or null without SelfNorm. */
  params: unknown;
  /** The concurrent slot the batch runs in (0 .. concurrency - 1): a slot runs one batch at a time. */
  slot: number;
}

/** What the worker records with a result, for the driver. */
export interface ProcessedMeta {
  plan: unknown;
  selfnormStats: unknown;
  /** With the run's `returnStats`: per-(instance, channel) mean and std of the CrossNorm output. */
  stats?: { mean: number[]; std: number[] };
}

/**
 * The augmentation itself, supplied by the worker app (the pipeline knows nothing of the maths).
 * `process` must call `encode` synchronously with its output, before any await: a backend may hand
 * out a buffer it reuses for the next batch, and encoding copies it out (unless `stableOutput`). It
 * returns what `encode` returned (the result blob in parts).
 */
export interface BatchProcessor {
  /** Backend name, e.g. `fused`. */
  readonly backend: string;
  /** e.g. `fused (wasm-simd)`, or why `auto` chose it. */
  readonly backendDetail: string;
  /** The GPU (or CPU Vulkan driver) a GPU backend runs on, e.g. `GPU nvidia NVIDIA H100 (...)`; '' for none. */
  readonly adapter?: string;
  /**
   * Where a batch's input blob of `blobBytes` (values in `wire` from `dataOffset` on) should land
   * for slot `slot`, so that `process` needs no copy in; null to use the runtime's own buffer. A
   * target for a 16-bit wire means the processor takes the values as they are (`halves`). A GPU
   * backend answers once the slot's staging is mapped again, hence the promise.
   */
  inputTarget?(
    slot: number,
    shape: number[],
    blobBytes: number,
    dataOffset: number,
    wire: WireDtype,
  ): Uint8Array | null | Promise<Uint8Array | null>;
  /** Where a 16-bit input's values are widened to for slot `slot` (the same purpose), or null. */
  inputFloats?(slot: number, shape: number[]): Float32Array | null | Promise<Float32Array | null>;
  /**
   * True when the data `process` hands to `encode` stays untouched until the same slot's next
   * batch: the runtime then sends it as is, with no copy out. @defaultValue false
   */
  readonly stableOutput?: boolean;
  process(
    input: ProcessorInput,
    ctx: BatchContext,
    encode: (data: Float32Array | Uint16Array, meta: ProcessedMeta) => Uint8Array[],
  ): Promise<Uint8Array[]>;
  /** True when the error means this batch can never succeed (bad input): it fails without retries. */
  isPermanent(err: unknown): boolean;
  close(): Promise<void>;
}
