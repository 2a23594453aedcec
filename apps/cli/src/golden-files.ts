import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type GoldenCase, type GoldenReader, parseGoldenManifest } from '@cnsn/kernels';
import { CliError } from './cli-error.js';

/** A golden set: its cases and how to read their tensors. */
export interface GoldenDir {
  cases: GoldenCase[];
  read: GoldenReader;
}

/** Reads DIR/manifest.json and returns its cases and a reader for its tensor files. */
export async function openGoldenDir(dir: string): Promise<GoldenDir> {
  const file = join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let cases: GoldenCase[];
  try {
    cases = parseGoldenManifest(raw, file);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const read: GoldenReader = async (name, length) => {
    const path = join(dir, name);
    const buf = await readFile(path);
    if (buf.byteLength !== length * 4) {
      throw new Error(
        `${path}: ${buf.byteLength} bytes, expected ${length} float32 values (${length * 4} bytes)`,
      );
    }
    const out = new Float32Array(length);
    for (let i = 0; i < length; i++) out[i] = buf.readFloatLE(i * 4);
    return out;
  };
  return { cases, read };
}
