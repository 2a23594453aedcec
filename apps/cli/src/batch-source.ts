import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Shape4 } from '@cnsn/kernels';
import { parseNpy } from '@cnsn/protocol';
import { CliError } from './cli-error.js';
import { syntheticBatch } from './synthetic.js';

/** Where a run's batches come from: synthetic batches, or .npy files. */
export interface BatchSource {
  count: number;
  /** Output file name of batch `seq`. */
  name(seq: number): string;
  /** The input file of batch `seq` (with --input), to name it in messages; null for synthetic batches. */
  file(seq: number): string | null;
  /** Bytes of batch `seq`, when known without reading it (synthetic batches). */
  bytes?(seq: number): number;
  /** Batch `seq`; a batch that cannot be read throws a CliError naming the file and the fault. */
  load(seq: number): Promise<{ data: Float32Array; shape: Shape4 }>;
  /** Milliseconds `load` spent making batches (synthetic ones made on demand): kept off the clock. */
  readonly makeMs?: number;
}

/**
 * Synthetic runs up to this many bytes are made before the clock starts (benchmarks time the
 * pipeline alone); longer ones are made as they are enqueued, so memory stays bounded by the window
 * whatever `--batches` says, and the time spent making them is subtracted from the figures.
 */
export const SYNTHETIC_EAGER_BYTES = 256 * 1024 * 1024;

export function syntheticSource(
  shape: Shape4,
  count: number,
  seed: number,
  eagerBytes = SYNTHETIC_EAGER_BYTES,
): BatchSource {
  const bytes = shape.reduce((a, b) => a * b, 1) * 4;
  const eager = bytes * count <= eagerBytes;
  const batches = eager ? Array.from({ length: count }, (_, seq) => syntheticBatch(shape, seed, seq)) : [];
  const source = {
    count,
    makeMs: 0,
    name: (seq: number) => `batch-${String(seq).padStart(6, '0')}.npy`,
    file: () => null,
    bytes: () => bytes,
    load: async (seq: number) => {
      if (eager) return batches[seq] as { data: Float32Array; shape: Shape4 };
      const t0 = performance.now();
      const batch = syntheticBatch(shape, seed, seq);
      source.makeMs += performance.now() - t0;
      return batch;
    },
  };
  return source;
}

export function npySource(files: string[]): BatchSource {
  const names = files.map((f) => basename(f));
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new CliError(`--input: two files are named ${dup}; --out would write both to the same name`);
  return {
    count: files.length,
    name: (seq) => names[seq] as string,
    file: (seq) => files[seq] ?? null,
    load: async (seq) => {
      const file = files[seq] as string;
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        throw new CliError(`${file}: ${(err as Error).message}`, 1);
      }
      try {
        const { data, shape } = parseNpy(bytes, file);
        return { data, shape };
      } catch (err) {
        throw new CliError((err as Error).message, 1);
      }
    },
  };
}
