// The wire's conversions in plain JS, for where the fused WebAssembly module is not built
// (wire-dtype.ts uses halfSimd when it is), and the reference the SIMD ones are tested against.
// Little-endian: a word's low half is the first value.
import { ProtocolError } from './errors.js';

/** The largest finite float16. */
export const FLOAT16_MAX = 65504;

/** The error for a value float16 cannot hold, at `index` of its tensor. */
export function float16RangeError(value: number, index: number): ProtocolError {
  return new ProtocolError(
    'wire float16',
    `value ${value} at index ${index} is outside float16's range (+-${FLOAT16_MAX}); use --wire bfloat16 or float32`,
  );
}

/** bfloat16 bits: round to nearest even; a NaN keeps a mantissa bit (it must not round into Inf). */
function bf16(x: number): number {
  return (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/**
 * float32 bits to bfloat16, two values a step, written as one 32-bit word where `out` is 4-aligned:
 * 1.6x the loop of one value a step (2.0 -> 1.2 ms for 1.6 M values).
 */
export function narrowBfloat16Js(bits: Uint32Array, out: Uint16Array): Uint16Array {
  let i = 0;
  if (out.byteOffset % 4 === 0) {
    const words = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 1);
    for (let j = 0; j < words.length; j++, i += 2)
      words[j] = bf16(bits[i] as number) | (bf16(bits[i + 1] as number) << 16);
  }
  for (; i < bits.length; i++) out[i] = bf16(bits[i] as number);
  return out;
}

/** bfloat16 to float32 bits, two values a step from one 32-bit word where `src` is 4-aligned (1.6x). */
export function widenBfloat16Js(src: Uint16Array, bits: Uint32Array): void {
  let i = 0;
  if (src.byteOffset % 4 === 0) {
    const words = new Uint32Array(src.buffer, src.byteOffset, src.length >>> 1);
    for (let j = 0; j < words.length; j++, i += 2) {
      const w = words[j] as number;
      bits[i] = w << 16;
      bits[i + 1] = w & 0xffff0000;
    }
  }
  for (; i < src.length; i++) bits[i] = (src[i] as number) << 16;
}

/** float32 to float16 bits; a value float16 cannot hold is refused, named by index. */
export function narrowFloat16Js(src: Float32Array, bits: Uint32Array, out: Uint16Array): Uint16Array {
  for (let i = 0; i < bits.length; i++) {
    const h = float32BitsToHalf(bits[i] as number);
    if (h < 0) throw float16RangeError(src[i] as number, i);
    out[i] = h;
  }
  return out;
}

/** float16 to float32 bits (exact). */
export function widenFloat16Js(src: Uint16Array, bits: Uint32Array): void {
  for (let i = 0; i < src.length; i++) bits[i] = halfToFloat32Bits(src[i] as number);
}

/** float32 bits to float16 bits, round to nearest even; -1 when a finite value overflows float16. */
function float32BitsToHalf(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return -1;
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit-one mantissa, rounding to nearest even.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  if ((h & 0x7c00) === 0x7c00) return -1; // rounded up into Inf
  return sign | h;
}

function halfToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) {
    if (mant === 0) return sign;
    // Subnormal: normalise.
    let e = -1;
    let m = mant;
    do {
      e++;
      m <<= 1;
    } while ((m & 0x400) === 0);
    return sign | ((127 - 15 - e) << 23) | ((m & 0x3ff) << 13);
  }
  if (exp === 0x1f) return sign | 0x7f800000 | (mant << 13);
  return sign | ((exp - 15 + 127) << 23) | (mant << 13);
}
