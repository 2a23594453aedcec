import { bf16Simd } from '@cnsn/kernels';
import { narrowBfloat16Js, widenBfloat16Js } from './bfloat16-js.js';
import { ProtocolError } from './errors.js';

/**
 * Precision of tensors on the wire. `float32` is the data as computed (bitwise); `bfloat16` keeps
 * float32's range with 8 bits of mantissa; `float16` has 11 bits of mantissa and a range of
 * +-65504. The kernels always compute in float32: a 16-bit batch is widened before, and narrowed
 * after (round to nearest, ties to even).
 */
export const WIRE_DTYPES = ['float32', 'bfloat16', 'float16'] as const;
export type WireDtype = (typeof WIRE_DTYPES)[number];

export function bytesPerValue(dtype: WireDtype): number {
  return dtype === 'float32' ? 4 : 2;
}

/** The largest finite float16. */
export const FLOAT16_MAX = 65504;

/** Narrows float32 values to `dtype` (16 bits each). A value float16 cannot hold is refused, named by index. */
export function narrowFloat32(
  src: Float32Array,
  dtype: 'bfloat16' | 'float16',
  out: Uint16Array,
): Uint16Array {
  if (out.length !== src.length)
    throw new RangeError(`narrow: out holds ${out.length} values, the source ${src.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  if (dtype === 'bfloat16') return narrowBfloat16(bits, out);
  for (let i = 0; i < bits.length; i++) {
    const h = float32BitsToHalf(bits[i] as number);
    if (h < 0) {
      throw float16RangeError(src[i] as number, i);
    }
    out[i] = h;
  }
  return out;
}

/** The error for a value float16 cannot hold, at `index` of its tensor. */
export function float16RangeError(value: number, index: number): ProtocolError {
  return new ProtocolError(
    'wire float16',
    `value ${value} at index ${index} is outside float16's range (+-${FLOAT16_MAX}); use --wire bfloat16 or float32`,
  );
}

/** Widens 16-bit `dtype` values to float32 (exact: every bfloat16 and float16 is a float32). */
export function widenToFloat32(
  src: Uint16Array,
  dtype: 'bfloat16' | 'float16',
  out: Float32Array,
): Float32Array {
  if (out.length !== src.length)
    throw new RangeError(`widen: out holds ${out.length} values, the source ${src.length}`);
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  if (dtype === 'bfloat16') {
    widenBfloat16(src, bits);
    return out;
  }
  for (let i = 0; i < src.length; i++) bits[i] = halfToFloat32Bits(src[i] as number);
  return out;
}

/**
 * In WebAssembly SIMD where the fused module is built (bf16Simd: 0.66 ms for 1.6 M values), else
 * bfloat16-js.ts (1.2 ms). The driver pays it on every bfloat16 batch.
 */
function narrowBfloat16(bits: Uint32Array, out: Uint16Array): Uint16Array {
  const simd = bf16Simd();
  if (!simd) return narrowBfloat16Js(bits, out);
  simd.narrow(new Float32Array(bits.buffer, bits.byteOffset, bits.length), out);
  return out;
}

/** As narrowBfloat16: SIMD (0.29 ms for 1.6 M values), else bfloat16-js.ts (0.82 ms). */
function widenBfloat16(src: Uint16Array, bits: Uint32Array): void {
  const simd = bf16Simd();
  if (simd) simd.widen(src, new Float32Array(bits.buffer, bits.byteOffset, bits.length));
  else widenBfloat16Js(src, bits);
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
