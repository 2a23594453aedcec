import fc from 'fast-check';
import { halfSimd } from '@cnsn/kernels';
import { describe, expect, it } from 'vitest';
import { narrowBfloat16Js, narrowFloat16Js, widenBfloat16Js, widenFloat16Js } from '../src/wire-js.js';
import {
  decodeTensorBlob,
  encodeTensorBlob,
  FLOAT16_MAX,
  narrowFloat32,
  ProtocolError,
  widenToFloat32,
} from '../src/index.js';

const f32 = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0] as number;
const roundTrip = (xs: number[], dtype: 'bfloat16' | 'float16'): number[] => {
  const src = Float32Array.from(xs);
  return Array.from(
    widenToFloat32(narrowFloat32(src, dtype, new Uint16Array(xs.length)), dtype, new Float32Array(xs.length)),
  );
};

describe('wire precision', () => {
  it('bfloat16 and float16 values pass unchanged (every one is a float32)', () => {
    // Every 16-bit pattern that is not NaN widens and narrows back to itself.
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
      const wide = widenToFloat32(all, dtype, new Float32Array(65536));
      const back = narrowFloat32(wide, dtype, new Uint16Array(65536));
      for (let i = 0; i < 65536; i++) if (!Number.isNaN(wide[i])) expect(back[i], `${dtype} ${i}`).toBe(i);
    }
  });

  it('bfloat16 converts two values a step where aligned: the same bits at any offset and length', () => {
    const xs = Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    xs[5] = NaN;
    xs[6] = -Infinity;
    const one = Array.from(xs, (x) => narrowFloat32(Float32Array.of(x), 'bfloat16', new Uint16Array(1))[0]);
    for (const at of [0, 1, 2]) {
      const out = new Uint16Array(new ArrayBuffer(2 * (xs.length + 2)), 2 * at, xs.length);
      expect(Array.from(narrowFloat32(xs, 'bfloat16', out)), `out at ${2 * at}`).toEqual(one);
      const wide = new Float32Array(xs.length);
      widenToFloat32(out, 'bfloat16', wide);
      const bits = Array.from(new Uint32Array(wide.buffer));
      expect(bits, `widened from ${2 * at}`).toEqual(one.map((h) => ((h as number) << 16) >>> 0));
    }
  });

  it.each(['bfloat16', 'float16'] as const)(
    '%s: the JS loops (no WebAssembly) and the SIMD ones give the same bits, at every offset',
    (dtype) => {
      const simd = halfSimd();
      expect(simd, 'the fused module is built by npm ci').not.toBeNull();
      // Every 16-bit top half, with low halves at and around both formats' rounding points.
      const lows = [0, 0x0fff, 0x1000, 0x1001, 0x3000, 0x7fff, 0x8000, 0x8001, 0xffff];
      const bits = new Uint32Array(65536 * lows.length);
      for (let h = 0; h < 65536; h++)
        lows.forEach((low, k) => (bits[lows.length * h + k] = ((h << 16) | low) >>> 0));
      // float16 refuses what it cannot hold: those are compared as refusals below.
      const kept =
        dtype === 'float16'
          ? bits.filter((b) => !((b & 0x7fffffff) >= 0x477ff000 && (b & 0x7fffffff) < 0x7f800000))
          : bits;
      const xs = new Float32Array(kept.buffer);
      for (const at of [0, 1]) {
        const out = new Uint16Array(new ArrayBuffer(2 * xs.length + 2), 2 * at, xs.length);
        expect(simd?.narrow(xs, out, dtype)).toBe(false);
        const js = new Uint16Array(xs.length);
        if (dtype === 'bfloat16') narrowBfloat16Js(kept, js);
        else narrowFloat16Js(xs, kept, js);
        expect(Buffer.from(out.buffer, out.byteOffset, out.byteLength).equals(Buffer.from(js.buffer))).toBe(
          true,
        );
        const wide = new Float32Array(xs.length);
        simd?.widen(out, wide, dtype);
        const wideJs = new Uint32Array(xs.length);
        if (dtype === 'bfloat16') widenBfloat16Js(out, wideJs);
        else widenFloat16Js(out, wideJs);
        expect(Buffer.from(wide.buffer).equals(Buffer.from(wideJs.buffer))).toBe(true);
      }
    },
  );

  it('float16 through SIMD refuses the first value out of range as the loops do', () => {
    const xs = Float32Array.from({ length: 5000 }, (_, i) => Math.sin(i) * 100);
    xs[3001] = 65520; // the tie between 65504 and 65536: to even, 65536, out of range
    xs[4000] = -1e6;
    expect(() => narrowFloat32(xs, 'float16', new Uint16Array(5000))).toThrow(
      "wire float16: value 65520 at index 3001 is outside float16's range (+-65504); use --wire bfloat16 or float32",
    );
    xs[3001] = 65519.99; // rounds to 65504: kept
    expect(() => narrowFloat32(xs, 'float16', new Uint16Array(5000))).toThrow(/value -1000000 at index 4000/);
  });

  it('rounds to nearest, ties to even; keeps signs, zeros, infinities and NaN', () => {
    // 1 + 2^-8 is halfway between two bfloat16s (1 and 1 + 2^-7): ties go to the even one, 1.
    expect(roundTrip([1 + 2 ** -8, 1 + 3 * 2 ** -8, -0, Infinity, -Infinity], 'bfloat16')).toEqual([
      1,
      1 + 2 ** -6,
      -0,
      Infinity,
      -Infinity,
    ]);
    expect(roundTrip([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 2 ** -24, 2 ** -26], 'float16')).toEqual([
      1,
      1 + 2 ** -9,
      65504,
      2 ** -24,
      0,
    ]);
    expect(Number.isNaN(roundTrip([Number.NaN], 'bfloat16')[0])).toBe(true);
    expect(Number.isNaN(roundTrip([f32(0x7f800001)], 'bfloat16')[0])).toBe(true); // a NaN that rounding would turn into Inf
    expect(Number.isNaN(roundTrip([Number.NaN], 'float16')[0])).toBe(true);
  });

  it('the JS loops themselves round to nearest, ties to even, two values a word and one at a time', () => {
    // [float32 bits, bfloat16 bits]: low halves of 0x8000 are exact ties; the top half's parity decides.
    const bf: Array<[number, number]> = [
      [0x3f808000, 0x3f80], // 1 + 2^-8: between 0x3f80 (even) and 0x3f81: down
      [0x3f818000, 0x3f82], // 1 + 3 * 2^-8: between 0x3f81 (odd) and 0x3f82: up
      [0x3f808001, 0x3f81], // just past the tie: up
      [0x3f817fff, 0x3f81], // just short of it: down
      [0xbf808000, 0xbf80], // negative ties alike
      [0xbf818000, 0xbf82],
      [0x00008000, 0x0000], // subnormal ties
      [0x00018000, 0x0002],
      [0x7f7f8000, 0x7f80], // the largest finite's tie: to even, which is Inf
    ];
    // [float32 value, float16 bits]
    const half: Array<[number, number]> = [
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [-(1 + 2 ** -11), 0xbc00],
      [2 ** -25, 0x0000], // half the smallest subnormal: to even, zero
      [3 * 2 ** -25, 0x0002],
      [2 ** -14 + 2 ** -25, 0x0400], // the smallest normal plus half its step
    ];
    for (const at of [0, 1]) {
      // At an even offset pairs of values go as one word (with an odd one last); at an odd one, one by one.
      const n = bf.length;
      const bits = Uint32Array.from(bf, ([b]) => b);
      const out = new Uint16Array(new ArrayBuffer(2 * n + 2), 2 * at, n);
      expect(Array.from(narrowBfloat16Js(bits, out)), `bfloat16 out at ${2 * at}`).toEqual(
        bf.map(([, h]) => h),
      );
      const xs = Float32Array.from(half, ([x]) => x);
      const out16 = new Uint16Array(new ArrayBuffer(2 * xs.length + 2), 2 * at, xs.length);
      const got = narrowFloat16Js(xs, new Uint32Array(xs.buffer), out16);
      expect(Array.from(got), `float16 out at ${2 * at}`).toEqual(half.map(([, h]) => h));
    }
  });

  it('errs by at most half a unit in the last place: 2^-8 (bfloat16) and 2^-11 (float16) relative', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -60000, max: 60000, noNaN: true, noDefaultInfinity: true }), {
          maxLength: 50,
        }),
        (xs) => {
          const exact = Float32Array.from(xs);
          const bf = roundTrip(Array.from(exact), 'bfloat16');
          const h = roundTrip(Array.from(exact), 'float16');
          exact.forEach((x, i) => {
            // bfloat16 keeps float32's exponents; in the subnormal range its step is 2^-133.
            expect(Math.abs((bf[i] as number) - x)).toBeLessThanOrEqual(
              Math.max(Math.abs(x) * 2 ** -8, 2 ** -134),
            );
            // float16 below its normal range has a fixed absolute step of 2^-24.
            expect(Math.abs((h[i] as number) - x)).toBeLessThanOrEqual(
              Math.max(Math.abs(x) * 2 ** -11, 2 ** -25),
            );
          });
        },
      ),
    );
  });

  it('refuses a value float16 cannot hold, naming it and where, and what to use instead', () => {
    const x = Float32Array.from([1, 2, 70000]);
    expect(() => narrowFloat32(x, 'float16', new Uint16Array(3))).toThrow(ProtocolError);
    expect(() => narrowFloat32(x, 'float16', new Uint16Array(3))).toThrow(
      `value 70000 at index 2 is outside float16's range (+-${FLOAT16_MAX}); use --wire bfloat16 or float32`,
    );
    // 65520 would round up into Inf: refused too.
    expect(() => narrowFloat32(Float32Array.from([65520]), 'float16', new Uint16Array(1))).toThrow(
      /outside float16/,
    );
  });

  it('a 16-bit blob is half the bytes and decodes to the widened values', () => {
    const data = Float32Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => i / 7);
    for (const dtype of ['bfloat16', 'float16'] as const) {
      const blob = encodeTensorBlob({ shape: [2, 3, 4, 5], data, dtype });
      const full = encodeTensorBlob({ shape: [2, 3, 4, 5], data });
      // Half the data bytes; the headers differ by a few bytes (the dtype's name, the alignment pad).
      expect(Math.abs(full.length - data.length * 2 - blob.length)).toBeLessThanOrEqual(8);
      const back = decodeTensorBlob(blob, 'b');
      expect(back.dtype).toBe(dtype);
      expect(Array.from(back.data)).toEqual(roundTrip(Array.from(data), dtype));
    }
  });
});
