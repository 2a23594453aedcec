import { halfSimd } from '@cnsn/kernels';
import { narrowBfloat16Js, narrowFloat16Js, widenBfloat16Js, widenFloat16Js } from './wire-js.js';

export { FLOAT16_MAX, float16RangeError } from './wire-js.js';

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

/** Narrows float32 values to `dtype` (16 bits each). A value float16 cannot hold is refused, named by index. */
export function narrowFloat32(
  src: Float32Array,
  dtype: 'bfloat16' | 'float16',
  out: Uint16Array,
): Uint16Array {
  if (out.length !== src.length)
    throw new RangeError(`narrow: out holds ${out.length} values, the source ${src.length}`);
  // WebAssembly SIMD where the fused module is built (halfSimd), else the loops of wire-js.ts; a
  // float16 overflow is named by the loops, which refuse the first such value.
  const simd = halfSimd();
  if (simd && !simd.narrow(src, out, dtype)) return out;
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  return dtype === 'bfloat16' ? narrowBfloat16Js(bits, out) : narrowFloat16Js(src, bits, out);
}

/**
 * Widens 16-bit `dtype` values to float32 (exact: every bfloat16 and float16 is a float32), in
 * WebAssembly SIMD where the fused module is built, else the loops of wire-js.ts.
 */
export function widenToFloat32(
  src: Uint16Array,
  dtype: 'bfloat16' | 'float16',
  out: Float32Array,
): Float32Array {
  if (out.length !== src.length)
    throw new RangeError(`widen: out holds ${out.length} values, the source ${src.length}`);
  const simd = halfSimd();
  if (simd) simd.widen(src, out, dtype);
  else if (dtype === 'bfloat16')
    widenBfloat16Js(src, new Uint32Array(out.buffer, out.byteOffset, out.length));
  else widenFloat16Js(src, new Uint32Array(out.buffer, out.byteOffset, out.length));
  return out;
}
