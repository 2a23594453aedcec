import { KernelInputError, show } from './errors.js';

/** The four crop modes of `cn_op_2ins_space_chan`. */
export type Crop = 'neither' | 'style' | 'content' | 'both';
export const CROPS: readonly Crop[] = ['neither', 'style', 'content', 'both'];

/** CrossNorm options of a run, as the paper's code names them. */
export interface CrossNormOptions {
  /** Which regions are cropped. @defaultValue 'both' */
  crop: Crop;
  /** Shuffle channels too (one channel permutation per batch). @defaultValue true */
  chan: boolean;
  /** Beta(beta, beta) parameter of the box sampler. @defaultValue 1 */
  beta: number;
  /** Minimum box area ratio (exclusive). @defaultValue 0.1 */
  bbxThres: number;
  /** Mix weight: out = lam * x + (1 - lam) * crossnormed; null for none. @defaultValue null */
  lam: number | null;
  /** Probability that CrossNorm fires on a batch. @defaultValue 1 */
  cnProb: number;
}

export const DEFAULT_CROSSNORM_OPTIONS: Readonly<CrossNormOptions> = Object.freeze({
  crop: 'both',
  chan: true,
  beta: 1,
  bbxThres: 0.1,
  lam: null,
  cnProb: 1,
});

/** Fills defaults and checks every field once; an error names the field and the value. */
export function resolveCrossNormOptions(input: Partial<CrossNormOptions> = {}): CrossNormOptions {
  const o = { ...DEFAULT_CROSSNORM_OPTIONS, ...stripUndefined(input) };
  if (!CROPS.includes(o.crop)) {
    throw new KernelInputError('crop', `must be one of ${CROPS.join(', ')}, got ${show(o.crop)}`);
  }
  if (typeof o.chan !== 'boolean')
    throw new KernelInputError('chan', `must be a boolean, got ${show(o.chan)}`);
  if (!(typeof o.beta === 'number' && Number.isFinite(o.beta) && o.beta > 0)) {
    throw new KernelInputError('beta', `must be a finite number > 0, got ${show(o.beta)}`);
  }
  if (!(typeof o.bbxThres === 'number' && o.bbxThres >= 0 && o.bbxThres < 1)) {
    throw new KernelInputError('bbxThres', `must be in [0, 1), got ${show(o.bbxThres)}`);
  }
  checkLam(o.lam, 'lam');
  if (!(typeof o.cnProb === 'number' && o.cnProb >= 0 && o.cnProb <= 1)) {
    throw new KernelInputError('cnProb', `must be in [0, 1], got ${show(o.cnProb)}`);
  }
  return o;
}

export function checkLam(lam: unknown, field: string): number | null {
  if (lam === null) return null;
  if (!(typeof lam === 'number' && lam >= 0 && lam <= 1)) {
    throw new KernelInputError(field, `must be null or in [0, 1], got ${show(lam)}`);
  }
  return lam;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
