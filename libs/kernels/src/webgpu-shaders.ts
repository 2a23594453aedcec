/**
 * The two passes of the fused chain in WGSL (DESIGN.md, "The algebra"), float32 throughout.
 *
 * Both run on a segment of whole planes (webgpu-buffers.ts); `planeOffset` places the segment's
 * planes in the batch-wide statistics and coefficients.
 *
 * Pass 1, one workgroup per plane: count, mean and M2 (sum of squared deviations) over the whole
 * map, the content box and the style box, by Welford's update per thread and Chan's combination
 * across the workgroup: stable in float32, where sums of squares would cancel. The host turns them
 * into the float64 sums the coefficients are computed from.
 *
 * Pass 2, one thread per value: `x * alpha + beta` with the plane's coefficients for its region,
 * in place.
 */

/** Threads per workgroup of the statistics pass. */
export const STATS_THREADS = 64;
/** Threads per workgroup of the apply pass. */
export const APPLY_THREADS = 256;
/** Largest workgroup count along one dimension (WebGPU's default limit). */
export const MAX_GROUPS_PER_DIM = 65535;
/** Floats the statistics pass writes per plane: (n, mean, M2) for whole map, content box, style box. */
export const STATS_PER_PLANE = 9;

const BOX = /* wgsl */ `
struct Box { r0: u32, c0: u32, r1: u32, c1: u32 }
fn inBox(b: Box, r: u32, c: u32) -> bool { return r >= b.r0 && r < b.r1 && c >= b.c0 && c < b.c1; }
`;

export const STATS_SHADER = /* wgsl */ `
${BOX}
struct Params { planes: u32, hw: u32, width: u32, flags: u32, content: Box, style: Box, planeOffset: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;
var<workgroup> acc: array<vec3<f32>, ${3 * STATS_THREADS}>;

fn push(a: vec3<f32>, v: f32) -> vec3<f32> {
  let n = a.x + 1.0;
  let d = v - a.y;
  let mean = a.y + d / n;
  return vec3<f32>(n, mean, a.z + d * (v - mean));
}

fn combine(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (b.x == 0.0) { return a; }
  if (a.x == 0.0) { return b; }
  let d = b.y - a.y;
  return vec3<f32>(n, a.y + d * (b.x / n), a.z + b.z + d * d * (a.x * b.x / n));
}

@compute @workgroup_size(${STATS_THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let p = wg.x + wg.y * ${MAX_GROUPS_PER_DIM}u;
  if (p >= prm.planes) { return; }
  var whole = vec3<f32>(0.0);
  var content = vec3<f32>(0.0);
  var style = vec3<f32>(0.0);
  let base = p * prm.hw;
  for (var i = t; i < prm.hw; i += ${STATS_THREADS}u) {
    let v = x[base + i];
    whole = push(whole, v);
    let r = i / prm.width;
    let c = i % prm.width;
    if ((prm.flags & 1u) != 0u && inBox(prm.content, r, c)) { content = push(content, v); }
    if ((prm.flags & 2u) != 0u && inBox(prm.style, r, c)) { style = push(style, v); }
  }
  acc[t] = whole;
  acc[t + ${STATS_THREADS}u] = content;
  acc[t + ${2 * STATS_THREADS}u] = style;
  workgroupBarrier();
  for (var stride = ${STATS_THREADS / 2}u; stride > 0u; stride = stride >> 1u) {
    if (t < stride) {
      for (var k = 0u; k < 3u; k++) {
        let i = t + k * ${STATS_THREADS}u;
        acc[i] = combine(acc[i], acc[i + stride]);
      }
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    let o = (p + prm.planeOffset) * ${STATS_PER_PLANE}u;
    for (var k = 0u; k < 3u; k++) {
      let a = acc[k * ${STATS_THREADS}u];
      stats[o + k * 3u] = a.x;
      stats[o + k * 3u + 1u] = a.y;
      stats[o + k * 3u + 2u] = a.z;
    }
  }
}
`;

export const APPLY_SHADER = /* wgsl */ `
${BOX}
struct Params { total: u32, hw: u32, width: u32, flags: u32, content: Box, rowGroups: u32, planeOffset: u32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> coef: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> prm: Params;

@compute @workgroup_size(${APPLY_THREADS})
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  let i = g.x + g.y * prm.rowGroups * ${APPLY_THREADS}u;
  if (i >= prm.total) { return; }
  let p = i / prm.hw;
  let k = i % prm.hw;
  let cf = coef[p + prm.planeOffset];
  let inside = (prm.flags & 1u) == 0u || inBox(prm.content, k / prm.width, k % prm.width);
  x[i] = select(x[i] * cf.z + cf.w, x[i] * cf.x + cf.y, inside);
}
`;
