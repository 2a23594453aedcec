import { KernelInputError, show } from './errors.js';
import type { Rng } from './rng.js';

/** `[start2, start3, end2, end3]`: half-open ranges on dimensions 2 (H) and 3 (W) of NCHW. */
export type Box = readonly [number, number, number, number];

/** Options of the box sampler, as in the reference's `cn_rand_bbox`. */
export interface BoxSamplerOptions {
  /** Box side ratio is sqrt(r), r ~ Beta(beta, beta). @defaultValue 1 */
  beta: number;
  /** A box is kept when its area / (H*W) is strictly above this. @defaultValue 0.1 */
  bbxThres: number;
}

/**
 * Draws beyond which the sampler gives up: only a map too small (or a threshold too high) to
 * hold any admissible box gets near it, and an endless loop would hang a worker.
 */
export const MAX_BOX_DRAWS = 10_000;

/**
 * The reference sampler: ratio ~ Beta(beta, beta), side = int(size * sqrt(ratio)), uniform centre,
 * clipped, resampled until area / (H*W) > bbxThres. One documented departure: the box must also
 * hold at least 2 elements, because the reference's 1-element boxes give a NaN unbiased variance.
 */
export function sampleBox(rng: Rng, h: number, w: number, options: BoxSamplerOptions): Box {
  for (let draw = 0; draw < MAX_BOX_DRAWS; draw++) {
    const cut = Math.sqrt(rng.beta(options.beta, options.beta));
    const cutH = Math.trunc(h * cut);
    const cutW = Math.trunc(w * cut);
    const cy = rng.int(h);
    const cx = rng.int(w);
    const halfH = Math.floor(cutH / 2);
    const halfW = Math.floor(cutW / 2);
    const a = clip(cy - halfH, h);
    const b = clip(cx - halfW, w);
    const c = clip(cy + halfH, h);
    const d = clip(cx + halfW, w);
    const area = (c - a) * (d - b);
    if (area / (h * w) > options.bbxThres && area >= 2) return [a, b, c, d];
  }
  throw new KernelInputError(
    'bbxThres',
    `no box with area ratio > ${show(options.bbxThres)} and at least 2 elements found in ${MAX_BOX_DRAWS} draws on a ${h}x${w} map; lower bbxThres or use crop "neither"`,
  );
}

function clip(v: number, hi: number): number {
  return v < 0 ? 0 : v > hi ? hi : v;
}

/** Checks a box against an H x W map: integers, in range, non-empty, at least 2 elements. */
export function validateBox(box: unknown, h: number, w: number, field: string): Box {
  if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => Number.isSafeInteger(v))) {
    throw new KernelInputError(field, `expected [start2, start3, end2, end3] integers, got ${show(box)}`);
  }
  const [a, b, c, d] = box as [number, number, number, number];
  if (a < 0 || b < 0 || c > h || d > w || a >= c || b >= d) {
    throw new KernelInputError(field, `box ${show(box)} is empty or outside the ${h}x${w} map`);
  }
  if ((c - a) * (d - b) < 2) {
    throw new KernelInputError(
      field,
      `box ${show(box)} holds ${(c - a) * (d - b)} element; at least 2 are needed`,
    );
  }
  return box as unknown as Box;
}
