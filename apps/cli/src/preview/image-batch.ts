import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCanvas, loadImage } from '@napi-rs/canvas';
import type { Shape4 } from '@cnsn/kernels';
import { CliError } from '../cli-error.js';

/** The sample photographs that ship with the repo (public domain and CC0; see their README). */
export const SAMPLE_IMAGES_DIR = fileURLToPath(new URL('../../assets/samples/', import.meta.url));

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);
/** More images make a taller picture, not a clearer one. */
export const MAX_PREVIEW_IMAGES = 8;

export interface ImageBatch {
  /** N x 3 x size x size, RGB in [0, 1]. */
  data: Float32Array;
  shape: Shape4;
  names: string[];
}

/**
 * Reads the PNG and JPEG files of `dir` (in name order, at most 8), centre-crops each to a square
 * and scales it to `size`: one NCHW batch, each image an instance with 3 channels.
 */
export async function loadImageBatch(dir: string, size: number): Promise<ImageBatch> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw new CliError(`--images ${dir}: ${(err as Error).message}`);
  }
  const files = entries
    .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
    .sort()
    .slice(0, MAX_PREVIEW_IMAGES);
  if (files.length < 2)
    throw new CliError(
      `--images ${dir}: found ${files.length} PNG/JPEG file(s); CrossNorm swaps styles between instances, so give at least 2`,
    );
  const plane = size * size;
  const data = new Float32Array(files.length * 3 * plane);
  const canvas = createCanvas(size, size);
  const g = canvas.getContext('2d');
  for (const [n, file] of files.entries()) {
    const path = join(dir, file);
    let image;
    try {
      image = await loadImage(await readFile(path));
    } catch (err) {
      throw new CliError(`${path}: not a readable PNG or JPEG image (${(err as Error).message})`);
    }
    const side = Math.min(image.width, image.height);
    g.clearRect(0, 0, size, size);
    g.drawImage(image, (image.width - side) / 2, (image.height - side) / 2, side, side, 0, 0, size, size);
    const rgba = g.getImageData(0, 0, size, size).data;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) data[(n * 3 + c) * plane + i] = (rgba[i * 4 + c] as number) / 255;
    }
  }
  return { data, shape: [files.length, 3, size, size], names: files.map((f) => basename(f, extname(f))) };
}
