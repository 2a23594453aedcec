import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Shape4 } from '@cnsn/kernels';
import { parseNpy } from '@cnsn/protocol';
import { CliError } from './cli-error.js';
import { syntheticBatch } from './synthetic.js';

/** Where a run's batches come from: synthetic (all generated before the clock starts) or .npy files. */
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
}

export function syntheticSource(shape: Shape4, count: number, seed: number): BatchSource {
  const batches = Array.from({ length: count }, (_, seq) => syntheticBatch(shape, seed, seq));
  return {
    count,
    name: (seq) => `batch-${String(seq).padStart(6, '0')}.npy`,
    file: () => null,
    bytes: () => shape.reduce((a, b) => a * b, 1) * 4,
    load: async (seq) => batches[seq] as { data: Float32Array; shape: Shape4 },
  };
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
