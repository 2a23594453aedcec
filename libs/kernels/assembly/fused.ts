// WebAssembly SIMD passes of the fused CrossNorm -> SelfNorm chain (see docs/design.md, "The algebra").
// Built from source at install time by tools/build-wasm.mjs; never committed as a binary.
// The host (fused-wasm-engine.ts) owns the memory layout: every argument is a byte offset.

/**
 * Pass 1: per plane, float64 sums of x and x^2 over the whole map and over two masked regions.
 * maskC / maskS hold hw 64-bit lanes, all ones inside the region (0 pointer: region unused). out gets six f64 arrays of P.
 * Returns 1 when every sum is finite.
 */
export function sums(x: usize, planes: i32, hw: i32, maskC: usize, maskS: usize, out: usize): i32 {
  return sumsOf(x, planes, hw, maskC, maskS, out, F32);
}

/** Pass 1 on bfloat16 values (2 bytes each), widened in registers: the same sums, bit for bit. */
export function sumsBf16(x: usize, planes: i32, hw: i32, maskC: usize, maskS: usize, out: usize): i32 {
  return sumsOf(x, planes, hw, maskC, maskS, out, BF16);
}

/** Pass 1 on float16 values, widened in registers (exactly: every float16 is a float32). */
export function sumsF16(x: usize, planes: i32, hw: i32, maskC: usize, maskS: usize, out: usize): i32 {
  return sumsOf(x, planes, hw, maskC, maskS, out, F16);
}

/** What the values in memory are: the kernels compute on float32 either way. */
const F32 = 0;
const BF16 = 1;
const F16 = 2;

@inline
function sumsOf(x: usize, planes: i32, hw: i32, maskC: usize, maskS: usize, out: usize, half: i32): i32 {
  // Three specialised loops: after inlining, the region flags are constants and their branches vanish.
  const stride = <usize>planes * 8;
  const bytes: usize = half == F32 ? 4 : 2;
  for (let p = 0; p < planes; p++) {
    const px = x + (<usize>p * <usize>hw) * bytes;
    const o = out + <usize>p * 8;
    if (maskC != 0 && maskS != 0) planeSums(px, hw, maskC, maskS, o, stride, true, true, half);
    else if (maskC != 0) planeSums(px, hw, maskC, 0, o, stride, true, false, half);
    else if (maskS != 0) planeSums(px, hw, 0, maskS, o, stride, false, true, half);
    else planeSums(px, hw, 0, 0, o, stride, false, false, half);
  }
  // A NaN or Inf anywhere makes its plane's sum non-finite: the input check costs one pass over P sums.
  let acc: f64 = 0;
  for (let p = 0; p < planes; p++) acc += load<f64>(out + <usize>p * 8) * 0;
  return acc == 0 ? 1 : 0;
}

/** Four values from `px` at index i as float32: as they are, or a 16-bit kind widened (exactly). */
@inline
function load4(px: usize, i: i32, half: i32): v128 {
  if (half == F32) return v128.load(px + (<usize>i << 2));
  const h = v128.load_ext<u16>(px + (<usize>i << 1));
  // A bfloat16 is the top half of a float32.
  return half == BF16 ? i32x4.shl(h, 16) : f16x4(h);
}

@inline
function load1(px: usize, i: i32, half: i32): f32 {
  if (half == F32) return load<f32>(px + (<usize>i << 2));
  const h = <u32>load<u16>(px + (<usize>i << 1));
  return half == BF16 ? reinterpret<f32>(h << 16) : reinterpret<f32>(f16bits(h));
}

/**
 * float16 bits (one per 32-bit lane) to float32, exactly: the exponent and mantissa bits shifted
 * into place read as a float32 2^112 too small (a subnormal float16 as a subnormal float32, which
 * WebAssembly keeps), so one multiply by 2^112 rebiases both; Inf and NaN keep their mantissa.
 */
@inline
function f16x4(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const shifted = i32x4.shl(em, 13);
  const finite = f32x4.mul(shifted, f32x4.splat(reinterpret<f32>(0x77800000)));
  const special = v128.or(shifted, i32x4.splat(0x7f800000));
  const value = v128.bitselect(special, finite, i32x4.ge_u(em, i32x4.splat(0x7c00)));
  return v128.or(value, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

@inline
function f16bits(h: u32): u32 {
  const em = h & 0x7fff;
  const bits =
    em >= 0x7c00 ? (em << 13) | 0x7f800000 : reinterpret<u32>(reinterpret<f32>(em << 13) * reinterpret<f32>(0x77800000));
  return bits | ((h & 0x8000) << 16);
}

@inline
function planeSums(
  px: usize,
  hw: i32,
  maskC: usize,
  maskS: usize,
  o: usize,
  stride: usize,
  useC: bool,
  useS: bool,
  half: i32,
): void {
  const vec = hw & ~3;
  let s = f64x2.splat(0);
  let q = f64x2.splat(0);
  let sc = f64x2.splat(0);
  let qc = f64x2.splat(0);
  let ss = f64x2.splat(0);
  let qs = f64x2.splat(0);
  for (let i = 0; i < vec; i += 4) {
    const v = load4(px, i, half);
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
    const lo2 = f64x2.mul(lo, lo);
    const hi2 = f64x2.mul(hi, hi);
    s = f64x2.add(s, f64x2.add(lo, hi));
    q = f64x2.add(q, f64x2.add(lo2, hi2));
    if (useC) {
      const ml = v128.load(maskC + (<usize>i << 3));
      const mh = v128.load(maskC + (<usize>i << 3), 16);
      sc = f64x2.add(sc, f64x2.add(v128.and(lo, ml), v128.and(hi, mh)));
      qc = f64x2.add(qc, f64x2.add(v128.and(lo2, ml), v128.and(hi2, mh)));
    }
    if (useS) {
      const ml = v128.load(maskS + (<usize>i << 3));
      const mh = v128.load(maskS + (<usize>i << 3), 16);
      ss = f64x2.add(ss, f64x2.add(v128.and(lo, ml), v128.and(hi, mh)));
      qs = f64x2.add(qs, f64x2.add(v128.and(lo2, ml), v128.and(hi2, mh)));
    }
  }
  let S = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  let Q = f64x2.extract_lane(q, 0) + f64x2.extract_lane(q, 1);
  let SC = f64x2.extract_lane(sc, 0) + f64x2.extract_lane(sc, 1);
  let QC = f64x2.extract_lane(qc, 0) + f64x2.extract_lane(qc, 1);
  let SS = f64x2.extract_lane(ss, 0) + f64x2.extract_lane(ss, 1);
  let QS = f64x2.extract_lane(qs, 0) + f64x2.extract_lane(qs, 1);
  for (let i = vec; i < hw; i++) {
    const v = <f64>load1(px, i, half);
    const v2 = v * v;
    S += v;
    Q += v2;
    if (useC) {
      if (load<i64>(maskC + (<usize>i << 3)) != 0) {
        SC += v;
        QC += v2;
      }
    }
    if (useS) {
      if (load<i64>(maskS + (<usize>i << 3)) != 0) {
        SS += v;
        QS += v2;
      }
    }
  }
  // Structure of arrays (S, Q, Sc, Qc, Ss, Qs), each of P values: the coefficient step reads them as lanes.
  store<f64>(o, S);
  store<f64>(o + stride, Q);
  store<f64>(o + 2 * stride, SC);
  store<f64>(o + 3 * stride, QC);
  store<f64>(o + 4 * stride, SS);
  store<f64>(o + 5 * stride, QS);
}

/**
 * Pass 2: out = alpha * x + beta per plane, with (alphaIn, betaIn) inside the region of `mask`
 * (hw int32 lanes, all ones inside) and (alphaOut, betaOut) outside; mask 0: the whole map is "in".
 * coef holds 4 f32 per plane: alphaIn, betaIn, alphaOut, betaOut.
 */
export function apply(x: usize, out: usize, planes: i32, hw: i32, mask: usize, coef: usize): void {
  const vec = hw & ~3;
  for (let p = 0; p < planes; p++) {
    const off = (<usize>p * <usize>hw) * 4;
    const px = x + off;
    const po = out + off;
    const cp = coef + <usize>p * 16;
    const aIn = load<f32>(cp);
    const bIn = load<f32>(cp, 4);
    const aOut = load<f32>(cp, 8);
    const bOut = load<f32>(cp, 12);
    const vaIn = f32x4.splat(aIn);
    const vbIn = f32x4.splat(bIn);
    if (mask == 0) {
      for (let i = 0; i < vec; i += 4) {
        const v = v128.load(px + (<usize>i << 2));
        v128.store(po + (<usize>i << 2), f32x4.add(f32x4.mul(v, vaIn), vbIn));
      }
      for (let i = vec; i < hw; i++) store<f32>(po + (<usize>i << 2), load<f32>(px + (<usize>i << 2)) * aIn + bIn);
    } else {
      const vaOut = f32x4.splat(aOut);
      const vbOut = f32x4.splat(bOut);
      for (let i = 0; i < vec; i += 4) {
        const m = v128.load(mask + (<usize>i << 2));
        const v = v128.load(px + (<usize>i << 2));
        const a = v128.bitselect(vaIn, vaOut, m);
        const b = v128.bitselect(vbIn, vbOut, m);
        v128.store(po + (<usize>i << 2), f32x4.add(f32x4.mul(v, a), b));
      }
      for (let i = vec; i < hw; i++) {
        const inside = load<i32>(mask + (<usize>i << 2)) != 0;
        const v = load<f32>(px + (<usize>i << 2));
        store<f32>(po + (<usize>i << 2), inside ? v * aIn + bIn : v * aOut + bOut);
      }
    }
  }
}

/** bfloat16 bits of four float32: round to nearest even; a NaN keeps a mantissa bit (never rounds into Inf). */
@inline
function bf16x4(v: v128): v128 {
  const rounded = i32x4.shr_u(i32x4.add(i32x4.add(v, i32x4.splat(0x7fff)), v128.and(i32x4.shr_u(v, 16), i32x4.splat(1))), 16);
  const nan = i32x4.gt_u(v128.and(v, i32x4.splat(0x7fffffff)), i32x4.splat(0x7f800000));
  return v128.bitselect(v128.or(i32x4.shr_u(v, 16), i32x4.splat(0x40)), rounded, nan);
}

@inline
function bf16(v: f32): u16 {
  const x = reinterpret<u32>(v);
  return <u16>((x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16);
}

/**
 * Pass 2 on bfloat16: widened, `alpha * x + beta` in float32 exactly as `apply`, narrowed back; in
 * place when x == out. Bit for bit `apply` between the host's widen and narrow.
 */
export function applyBf16(x: usize, out: usize, planes: i32, hw: i32, mask: usize, coef: usize): i32 {
  return applyHalf(x, out, planes, hw, mask, coef, BF16);
}

/**
 * Pass 2 on float16, as applyBf16. Returns 1 when an output is beyond float16's range (the host then
 * names it the protocol's way), else 0; write `out` apart from `x` so that the input survives that.
 */
export function applyF16(x: usize, out: usize, planes: i32, hw: i32, mask: usize, coef: usize): i32 {
  return applyHalf(x, out, planes, hw, mask, coef, F16);
}

@inline
function applyHalf(x: usize, out: usize, planes: i32, hw: i32, mask: usize, coef: usize, half: i32): i32 {
  const vec = hw & ~7;
  let over = i32x4.splat(0);
  let overflow = false;
  for (let p = 0; p < planes; p++) {
    const off = (<usize>p * <usize>hw) * 2;
    const px = x + off;
    const po = out + off;
    const cp = coef + <usize>p * 16;
    const aIn = load<f32>(cp);
    const bIn = load<f32>(cp, 4);
    const aOut = mask == 0 ? aIn : load<f32>(cp, 8);
    const bOut = mask == 0 ? bIn : load<f32>(cp, 12);
    const vaIn = f32x4.splat(aIn);
    const vbIn = f32x4.splat(bIn);
    const vaOut = f32x4.splat(aOut);
    const vbOut = f32x4.splat(bOut);
    for (let i = 0; i < vec; i += 8) {
      let a0 = vaIn;
      let b0 = vbIn;
      let a1 = vaIn;
      let b1 = vbIn;
      if (mask != 0) {
        const m0 = v128.load(mask + (<usize>i << 2));
        const m1 = v128.load(mask + (<usize>i << 2), 16);
        a0 = v128.bitselect(vaIn, vaOut, m0);
        b0 = v128.bitselect(vbIn, vbOut, m0);
        a1 = v128.bitselect(vaIn, vaOut, m1);
        b1 = v128.bitselect(vbIn, vbOut, m1);
      }
      const y0 = f32x4.add(f32x4.mul(load4(px, i, half), a0), b0);
      const y1 = f32x4.add(f32x4.mul(load4(px, i + 4, half), a1), b1);
      if (half == BF16) v128.store(po + (<usize>i << 1), i16x8.narrow_i32x4_u(bf16x4(y0), bf16x4(y1)));
      else {
        over = v128.or(over, v128.or(f16over(y0), f16over(y1)));
        v128.store(po + (<usize>i << 1), i16x8.narrow_i32x4_u(f16of4(y0), f16of4(y1)));
      }
    }
    for (let i = vec; i < hw; i++) {
      const inside = mask == 0 || load<i32>(mask + (<usize>i << 2)) != 0;
      const v = load1(px, i, half);
      const y = inside ? v * aIn + bIn : v * aOut + bOut;
      if (half == BF16) store<u16>(po + (<usize>i << 1), bf16(y));
      else {
        if (f16overflows(y)) overflow = true;
        store<u16>(po + (<usize>i << 1), <u16>f16of(reinterpret<u32>(y)));
      }
    }
  }
  return overflow || v128.any_true(over) ? 1 : 0;
}

/** All ones in the lanes whose finite value float16 cannot hold (rounds to 65536 or beyond). */
@inline
function f16over(v: v128): v128 {
  const ax = v128.and(v, i32x4.splat(0x7fffffff));
  return v128.and(i32x4.ge_u(ax, i32x4.splat(0x477ff000)), i32x4.lt_u(ax, i32x4.splat(0x7f800000)));
}

@inline
function f16overflows(y: f32): bool {
  const ax = reinterpret<u32>(y) & 0x7fffffff;
  return ax >= 0x477ff000 && ax < 0x7f800000;
}

/**
 * float16 bits of four float32, round to nearest even, as the protocol's float32BitsToHalf (an
 * overflow lane is left to f16over): normals by integer rounding at bit 13, subnormals by adding
 * 0.5 in float32, whose own rounding is the one wanted, Inf and NaN by their bits.
 */
@inline
function f16of4(v: v128): v128 {
  const ax = v128.and(v, i32x4.splat(0x7fffffff));
  const t = i32x4.sub(ax, i32x4.splat(0x38000000));
  const normal = i32x4.shr_u(i32x4.add(i32x4.add(t, i32x4.splat(0xfff)), v128.and(i32x4.shr_u(t, 13), i32x4.splat(1))), 13);
  const sub = i32x4.sub(f32x4.add(ax, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  const mant = v128.and(ax, i32x4.splat(0x7fffff));
  const nanMant = v128.andnot(v128.or(i32x4.splat(0x200), i32x4.shr_u(mant, 13)), i32x4.eq(mant, i32x4.splat(0)));
  const special = v128.or(i32x4.splat(0x7c00), nanMant);
  let h = v128.bitselect(normal, sub, i32x4.ge_u(ax, i32x4.splat(0x38800000)));
  h = v128.bitselect(special, h, i32x4.ge_u(ax, i32x4.splat(0x7f800000)));
  return v128.or(h, v128.and(i32x4.shr_u(v, 16), i32x4.splat(0x8000)));
}

@inline
function f16of(x: u32): u32 {
  const ax = x & 0x7fffffff;
  const sign = (x >>> 16) & 0x8000;
  if (ax >= 0x7f800000) return sign | 0x7c00 | ((ax & 0x7fffff) != 0 ? 0x200 | ((ax & 0x7fffff) >>> 13) : 0);
  if (ax >= 0x38800000) {
    const t = ax - 0x38000000;
    return sign | ((t + 0xfff + ((t >>> 13) & 1)) >>> 13);
  }
  return sign | (reinterpret<u32>(reinterpret<f32>(ax) + 0.5) - 0x3f000000);
}

/** float32 values at `src` to bfloat16 at `dst` (a wire's narrowing, as the protocol's, eight a step). */
export function narrowBf16(src: usize, dst: usize, count: i32): void {
  const vec = count & ~7;
  for (let i = 0; i < vec; i += 8) {
    const a = v128.load(src + (<usize>i << 2));
    const b = v128.load(src + (<usize>i << 2), 16);
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(bf16x4(a), bf16x4(b)));
  }
  for (let i = vec; i < count; i++) store<u16>(dst + (<usize>i << 1), bf16(load<f32>(src + (<usize>i << 2))));
}

/** bfloat16 values at `src` to float32 at `dst` (exact), eight a step. */
export function widenBf16(src: usize, dst: usize, count: i32): void {
  const vec = count & ~7;
  for (let i = 0; i < vec; i += 8) {
    const v = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
    v128.store(dst + (<usize>i << 2), i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
  }
  for (let i = vec; i < count; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
}

/** float32 at `src` to float16 at `dst`, eight a step; 1 when a value is beyond float16's range, else 0. */
export function narrowF16(src: usize, dst: usize, count: i32): i32 {
  const vec = count & ~7;
  let over = i32x4.splat(0);
  for (let i = 0; i < vec; i += 8) {
    const a = v128.load(src + (<usize>i << 2));
    const b = v128.load(src + (<usize>i << 2), 16);
    over = v128.or(over, v128.or(f16over(a), f16over(b)));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(f16of4(a), f16of4(b)));
  }
  let overflow = v128.any_true(over);
  for (let i = vec; i < count; i++) {
    const y = load<f32>(src + (<usize>i << 2));
    if (f16overflows(y)) overflow = true;
    store<u16>(dst + (<usize>i << 1), <u16>f16of(reinterpret<u32>(y)));
  }
  return overflow ? 1 : 0;
}

/** float16 at `src` to float32 at `dst` (exact), eight a step. */
export function widenF16(src: usize, dst: usize, count: i32): void {
  const vec = count & ~7;
  for (let i = 0; i < vec; i += 8) {
    const v = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), f16x4(i32x4.extend_low_i16x8_u(v)));
    v128.store(dst + (<usize>i << 2), f16x4(i32x4.extend_high_i16x8_u(v)), 16);
  }
  for (let i = vec; i < count; i++) store<u32>(dst + (<usize>i << 2), f16bits(<u32>load<u16>(src + (<usize>i << 1))));
}
