import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';

/**
 * The seeded generator every draw of a plan comes from. xoroshiro128+ (pure-rand) is pure integer
 * arithmetic, so the same (seed, seq) gives the same plan on every platform and in every process.
 */
/** Marks the words of a stream in the key (any constant; it must never change). */
const STREAM_TAG = 0x57e4a;

export class Rng {
  private readonly gen: ReturnType<typeof xoroshiro128plusFromState>;

  /**
   * A generator keyed by a run seed and a batch number (each a safe non-negative integer), and a
   * stream (`[rank, epoch]`): stream [0, 0] (or none) is the historical key (seed, seq) alone; any
   * other adds its words (and a tag) to the key, so distinct keys feed distinct words to the mix.
   */
  constructor(seed: number, seq = 0, stream: readonly number[] = []) {
    // splitmix-style mixing of the 53-bit integers into a 128-bit state that is never all zero.
    const words: number[] = [
      seed % 2 ** 32,
      Math.floor(seed / 2 ** 32),
      seq % 2 ** 32,
      Math.floor(seq / 2 ** 32),
    ];
    if (stream.some((v) => v !== 0)) {
      words.push(STREAM_TAG, stream.length);
      for (const v of stream) words.push(v % 2 ** 32, Math.floor(v / 2 ** 32));
    }
    let h = 0x9e3779b9;
    const state: number[] = [];
    for (let i = 0; i < 4; i++) {
      for (const w of words) h = mix32(h ^ w ^ (i * 0x85ebca6b));
      state.push(h | 0);
    }
    if (!state.some((s) => s !== 0)) state[0] = 1;
    this.gen = xoroshiro128plusFromState(state);
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    return uniformFloat64(this.gen);
  }

  /** Uniform integer in [0, n), like numpy's randint(n). */
  int(n: number): number {
    return uniformInt(this.gen, 0, n - 1);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i] as number;
      p[i] = p[j] as number;
      p[j] = t;
    }
    return p;
  }

  /** Standard normal (Marsaglia polar method). */
  normal(): number {
    for (;;) {
      const u = 2 * this.float() - 1;
      const v = 2 * this.float() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
    }
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang, with the usual boost for shape < 1. */
  gamma(shape: number): number {
    if (shape < 1) return this.gamma(shape + 1) * Math.pow(1 - this.float(), 1 / shape);
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - this.float();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
    }
  }

  /** Beta(a, b) as X / (X + Y) of two gammas. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x + y === 0 ? 0.5 : x / (x + y);
  }
}

function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
