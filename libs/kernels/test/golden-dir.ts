import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GoldenCase, parseGoldenManifest } from '../src/index.js';

/** testdata/golden: the cases computed by the paper's code (its README says how). */
export const GOLDEN_DIR = fileURLToPath(new URL('../../../testdata/golden', import.meta.url));

if (!existsSync(GOLDEN_DIR)) {
  throw new Error(
    `golden cases not found at ${GOLDEN_DIR}: testdata/golden is part of the repository; check out all of it`,
  );
}

export async function goldenCases(): Promise<GoldenCase[]> {
  const file = join(GOLDEN_DIR, 'manifest.json');
  return parseGoldenManifest(JSON.parse(await readFile(file, 'utf8')), file);
}

export async function readGolden(file: string, length: number): Promise<Float32Array> {
  const buf = await readFile(join(GOLDEN_DIR, file));
  if (buf.byteLength !== length * 4)
    throw new Error(`${file}: ${buf.byteLength} bytes, expected ${length * 4}`);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
