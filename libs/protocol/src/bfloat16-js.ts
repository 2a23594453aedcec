// The wire's bfloat16 conversions in plain JS, for where the fused WebAssembly module is not built
// (wire-dtype.ts uses bf16Simd when it is). Little-endian: a word's low half is the first value.

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
