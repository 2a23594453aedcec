/**
 * The data passes of the fused chain in WGSL (docs/design.md, "The algebra"), float32 throughout; the
 * coefficients between them are webgpu-coef-shader.ts.
 *
 * Both run on a segment of whole planes (webgpu-buffers.ts); `planeOffset` places the segment's
 * planes in the batch-wide statistics and coefficients.
 *
 * Pass 1, one workgroup per plane (one thread per plane for maps of at most SMALL_MAP values):
 * count, mean and M2 (sum of squared deviations) over the map
 * outside the content box (the whole map without one), the content box and the style box, by
 * Welford's update per thread and Chan's combination across the workgroup: stable in float32,
 * where sums of squares would cancel. The whole map is Chan's combination of the first two, so no
 * region is ever subtracted from another. Means are of x - K, K the plane's first value (its
 * pivot, written after the three regions): a plane far from 0 next to its spread (mean 1000, std
 * 0.01) keeps its mean to the spread's precision as the pair (K, mean), where one float32 would
 * round it to 6e-5. A non-finite value records its index and kind in `bad` (the smallest index
 * wins), for the error that names it.
 *
 * Pass 2, one thread per value: `x * alpha + beta` with the plane's coefficients for its region,
 * in place.
 */

/** Threads per workgroup of the statistics pass. */
export const STATS_THREADS = 64;
/**
 * Largest map the statistics pass gives one thread per plane (`small`): a 7x7 map in a workgroup
 * of its own would leave 15 of 64 threads idle and pay 6 barriers for 49 values.
 */
export const SMALL_MAP = 64;
/** Threads per workgroup of the apply pass. */
export const APPLY_THREADS = 256;
/** `bad` when every value is finite; else (index << 2) | kind, kind 0 NaN, 1 +Infinity, 2 -Infinity. */
export const ALL_FINITE = 0xffffffff;
/** Largest workgroup count along one dimension (WebGPU's default limit). */
export const MAX_GROUPS_PER_DIM = 65535;
/**
 * Floats the statistics pass writes per plane: (n, mean - K, M2) for the rest of the map, the
 * content box and the style box, then the pivot K.
 */
export const STATS_PER_PLANE = 10;

const BOX = /* wgsl */ `
struct Box { r0: u32, c0: u32, r1: u32, c1: u32 }
fn inBox(b: Box, r: u32, c: u32) -> bool { return r >= b.r0 && r < b.r1 && c >= b.c0 && c < b.c1; }
`;

/** Chan's combination of two (n, mean, M2) triples. */
export const COMBINE = /* wgsl */ `
fn combine(a: vec3<f32>, b: vec3<f32>) -> vec3<f32> {
  let n = a.x + b.x;
  if (b.x == 0.0) { return a; }
  if (a.x == 0.0) { return b; }
  let d = b.y - a.y;
  return vec3<f32>(n, a.y + d * (b.x / n), a.z + b.z + d * d * (a.x * b.x / n));
}
`;

export const STATS_SHADER = /* wgsl */ `
${BOX}
struct Params { planes: u32, hw: u32, width: u32, flags: u32, content: Box, style: Box, planeOffset: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<uniform> prm: Params;
@group(0) @binding(3) var<storage, read_write> bad: atomic<u32>;
var<workgroup> acc: array<vec3<f32>, ${3 * STATS_THREADS}>;

fn flagBad(index: u32, bits: u32) {
  let kind = select(select(2u, 1u, (bits >> 31u) == 0u), 0u, (bits & 0x7fffffu) != 0u);
  atomicMin(&bad, (index << 2u) | kind);
}

fn push(a: vec3<f32>, v: f32) -> vec3<f32> {
  let n = a.x + 1.0;
  let d = v - a.y;
  let mean = a.y + d / n;
  return vec3<f32>(n, mean, a.z + d * (v - mean));
}

${COMBINE}
// Value i of plane p into its regions' triples (r[0] the rest of the map, r[1] the content box,
// r[2] the style box), relative to the plane's pivot.
fn visit(p: u32, i: u32, pivot: f32, r: ptr<function, array<vec3<f32>, 3>>) {
  let raw = x[p * prm.hw + i];
  let bits = bitcast<u32>(raw);
  let v = raw - pivot;
  if ((bits & 0x7f800000u) == 0x7f800000u) { flagBad((p + prm.planeOffset) * prm.hw + i, bits); }
  let row = i / prm.width;
  let col = i % prm.width;
  if ((prm.flags & 1u) != 0u && inBox(prm.content, row, col)) {
    (*r)[1] = push((*r)[1], v);
  } else {
    (*r)[0] = push((*r)[0], v);
  }
  if ((prm.flags & 2u) != 0u && inBox(prm.style, row, col)) { (*r)[2] = push((*r)[2], v); }
}

fn store(p: u32, r: array<vec3<f32>, 3>, pivot: f32) {
  let o = (p + prm.planeOffset) * ${STATS_PER_PLANE}u;
  for (var k = 0u; k < 3u; k++) {
    stats[o + k * 3u] = r[k].x;
    stats[o + k * 3u + 1u] = r[k].y;
    stats[o + k * 3u + 2u] = r[k].z;
  }
  stats[o + 9u] = pivot;
}

// Maps of at most SMALL_MAP values: one thread per plane, no barriers and no idle threads.
@compute @workgroup_size(${STATS_THREADS})
fn small(@builtin(global_invocation_id) g: vec3<u32>) {
  let p = g.x + g.y * ${MAX_GROUPS_PER_DIM * STATS_THREADS}u;
  if (p >= prm.planes) { return; }
  let pivot = x[p * prm.hw];
  var r = array<vec3<f32>, 3>(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0));
  for (var i = 0u; i < prm.hw; i++) { visit(p, i, pivot, &r); }
  store(p, r, pivot);
}

// Larger maps: one workgroup per plane, combined across its threads.
@compute @workgroup_size(${STATS_THREADS})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let p = wg.x + wg.y * ${MAX_GROUPS_PER_DIM}u;
  if (p >= prm.planes) { return; }
  let pivot = x[p * prm.hw];
  var r = array<vec3<f32>, 3>(vec3<f32>(0.0), vec3<f32>(0.0), vec3<f32>(0.0));
  for (var i = t; i < prm.hw; i += ${STATS_THREADS}u) { visit(p, i, pivot, &r); }
  acc[t] = r[0];
  acc[t + ${STATS_THREADS}u] = r[1];
  acc[t + ${2 * STATS_THREADS}u] = r[2];
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
    store(p, array<vec3<f32>, 3>(acc[0], acc[${STATS_THREADS}u], acc[${2 * STATS_THREADS}u]), pivot);
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
