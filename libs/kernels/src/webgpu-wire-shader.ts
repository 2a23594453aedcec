/**
 * A 16-bit wire on the GPU: `widen` turns the received bfloat16 or float16 values into the float32
 * the passes compute on, `narrow` turns the output back, so the host converts nothing. Both are
 * integer code, bit for bit what the protocol's narrowFloat32 and widenToFloat32 do on the host
 * (round to nearest, ties to even; a NaN keeps a mantissa bit), which WGSL's pack2x16float does not
 * promise. A float16 output that overflows records its smallest index in `flags[1]`, and `fetch`
 * copies its value to `flags[2]`, for the error that names it (the host refuses such a value too).
 *
 * One batch of one storage binding (a single segment); `half` holds two values per word.
 */

/** Threads per workgroup. */
export const WIRE_THREADS = 256;
/** Bytes of the uniform block. */
export const WIRE_PARAMS_BYTES = 16;
/** Dtype codes in the uniform block. */
export const WIRE_CODES = { bfloat16: 0, float16: 1 } as const;

export const WIRE_SHADER = /* wgsl */ `
struct Params { count: u32, dtype: u32, rowGroups: u32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> half: array<u32>;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;
@group(0) @binding(3) var<storage, read_write> flags: array<atomic<u32>>;

fn index(g: vec3<u32>) -> u32 { return g.x + g.y * prm.rowGroups * ${WIRE_THREADS}u; }

fn halfToFloat(h: u32) -> f32 {
  let sign = select(1.0, -1.0, (h & 0x8000u) != 0u);
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return sign * f32(m) * ${2 ** -24}; }
  if (e == 0x1fu) { return bitcast<f32>(((h & 0x8000u) << 16u) | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(((h & 0x8000u) << 16u) | ((e + 112u) << 23u) | (m << 13u));
}

fn floatToHalf(v: f32, i: u32) -> u32 {
  let bits = bitcast<u32>(v);
  let sign = (bits >> 16u) & 0x8000u;
  let exp = i32((bits >> 23u) & 0xffu);
  let mant = bits & 0x7fffffu;
  if (exp == 255) { return sign | 0x7c00u | select(0u, 0x200u | (mant >> 13u), mant != 0u); }
  let e = exp - 112;
  if (e >= 31) { atomicMin(&flags[1], i); return 0u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    let m = mant | 0x800000u;
    let shift = u32(14 - e);
    let halfway = 1u << (shift - 1u);
    let rest = m & ((1u << shift) - 1u);
    var h = m >> shift;
    if (rest > halfway || (rest == halfway && (h & 1u) != 0u)) { h += 1u; }
    return sign | h;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0u)) { h += 1u; }
  if ((h & 0x7c00u) == 0x7c00u) { atomicMin(&flags[1], i); return 0u; }
  return sign | h;
}

fn floatToBfloat(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return (b >> 16u) | 0x40u; }
  return (b + 0x7fffu + ((b >> 16u) & 1u)) >> 16u;
}

@compute @workgroup_size(${WIRE_THREADS})
fn widen(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = index(g);
  if (i >= prm.count) { return; }
  let h = (half[i >> 1u] >> ((i & 1u) * 16u)) & 0xffffu;
  x[i] = select(halfToFloat(h), bitcast<f32>(h << 16u), prm.dtype == ${WIRE_CODES.bfloat16}u);
}

@compute @workgroup_size(${WIRE_THREADS})
fn narrow(@builtin(global_invocation_id) g: vec3<u32>) {
  let w = index(g);
  let i = 2u * w;
  if (i >= prm.count) { return; }
  var lo = 0u;
  var hi = 0u;
  if (prm.dtype == ${WIRE_CODES.bfloat16}u) {
    lo = floatToBfloat(x[i]);
    if (i + 1u < prm.count) { hi = floatToBfloat(x[i + 1u]); }
  } else {
    lo = floatToHalf(x[i], i);
    if (i + 1u < prm.count) { hi = floatToHalf(x[i + 1u], i + 1u); }
  }
  half[w] = lo | (hi << 16u);
}

@compute @workgroup_size(1)
fn fetch() {
  let at = atomicLoad(&flags[1]);
  if (at != 0xffffffffu) { atomicStore(&flags[2], bitcast<u32>(x[at])); }
}
`;
