import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Box } from './box-sampler.js';
import {
  boxArea,
  type BatchNormBatchStats,
  meanStd,
  type SelfNormBatchStats,
  SUMS_PER_PLANE,
} from './coefficients.js';
import { BORROW_HEADROOM, type FusedEngine, type HalfKind, type HalfRun } from './fused-engine.js';
import type { CrossNormPlan } from './plan.js';
import type { BatchNormParams, SelfNormConfig } from './selfnorm-params.js';
import type { FeatureBatch, Shape4 } from './tensor.js';

interface FusedExports {
  memory: WebAssembly.Memory;
  sums(x: number, planes: number, hw: number, maskC: number, maskS: number, out: number): number;
  sumsBf16(x: number, planes: number, hw: number, maskC: number, maskS: number, out: number): number;
  sumsF16(x: number, planes: number, hw: number, maskC: number, maskS: number, out: number): number;
  apply(x: number, out: number, planes: number, hw: number, mask: number, coef: number): void;
  applyBf16(x: number, out: number, planes: number, hw: number, mask: number, coef: number): number;
  applyF16(x: number, out: number, planes: number, hw: number, mask: number, coef: number): number;
  coefficients(
    N: number,
    C: number,
    hw: number,
    sums: number,
    hasContent: number,
    hasStyle: number,
    nIn: number,
    nStyle: number,
    fires: number,
    lam: number,
    ins: number,
    chan: number,
    sn: number,
    two: number,
    gParams: number,
    fParams: number,
    coef: number,
    stats: number,
    scratch: number,
  ): void;
}

/** Where tools/build-wasm.mjs writes the module (at install time). */
export const FUSED_WASM_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', 'wasm', 'fused.wasm');

let compiled: WebAssembly.Module | null | undefined;
let loadError = '';

/** The compiled module, or null when it was not built or cannot run (see {@link fusedWasmLoadError}). */
export function loadFusedWasm(): WebAssembly.Module | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(readFileSync(FUSED_WASM_PATH));
  } catch (err) {
    loadError = `${FUSED_WASM_PATH}: ${(err as Error).message} (run \`npm run build:wasm\`)`;
    compiled = null;
  }
  return compiled;
}

export function fusedWasmLoadError(): string {
  return loadError;
}

/** Byte offsets of one batch shape's working set in linear memory. */
interface Layout {
  key: string;
  input: number;
  maskC: number;
  maskS: number;
  maskI: number;
  sums: number;
  scratch: number;
  coef: number;
  ins: number;
  chan: number;
  gParams: number;
  fParams: number;
  stats: number;
  end: number;
}

/** First byte the host may use: above the module's own static data (the module allocates nothing). */
const HEAP_BASE = 1 << 16;

/**
 * The fused chain in WebAssembly SIMD: sums, coefficients and the output pass all run in the module.
 * Each engine owns one instance; memory only grows, so a stream of same-shape batches allocates
 * nothing, and the output pass runs in place over the input copy (half the memory traffic).
 */
export class FusedWasmEngine implements FusedEngine {
  readonly name = 'wasm-simd' as const;
  private readonly exports: FusedExports;
  private layout: Layout | null = null;
  private maskKey = '';

  constructor(module: WebAssembly.Module) {
    this.exports = new WebAssembly.Instance(module, { env: { abort: wasmAbort } })
      .exports as unknown as FusedExports;
  }

  borrow(shape: Shape4): Float32Array {
    const l = this.prepare(shape);
    return new Float32Array(this.exports.memory.buffer, l.input, shape[0] * shape[1] * shape[2] * shape[3]);
  }

  /** The borrowed buffer as 16-bit values (the first half of its bytes), for runHalf. */
  borrowHalf(shape: Shape4): Uint16Array {
    const l = this.prepare(shape);
    return new Uint16Array(this.exports.memory.buffer, l.input, shape[0] * shape[1] * shape[2] * shape[3]);
  }

  run(
    batch: FeatureBatch,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    out: Float32Array,
    onNonFinite: () => void,
  ): SelfNormBatchStats | null {
    const l = this.prepare(batch.shape);
    const inPlace = this.load(batch.data, l);
    const { stats } = this.chain(batch.shape, l, plan, selfnorm, onNonFinite, 'float32');
    if (!(inPlace && out === batch.data))
      out.set(new Float32Array(this.exports.memory.buffer, l.input, batch.data.length));
    return stats;
  }

  /**
   * The chain on the 16-bit batch in borrowHalf's buffer: widened and narrowed inside the two
   * passes, so no float32 copy of the batch is ever written. Bit for bit `run` between the
   * protocol's widen and narrow. bfloat16 is written in place; float16 into the buffer's second
   * half, so that its input survives an output float16 cannot hold (`overflow`).
   */
  runHalf(
    shape: Shape4,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    onNonFinite: () => void,
    dtype: HalfKind,
  ): HalfRun {
    const l = this.prepare(shape);
    const count = shape[0] * shape[1] * shape[2] * shape[3];
    const out = dtype === 'bfloat16' ? l.input : l.input + count * 2;
    const { stats, overflow } = this.chain(shape, l, plan, selfnorm, onNonFinite, dtype, out);
    return { stats, data: new Uint16Array(this.exports.memory.buffer, out, count), overflow };
  }

  /**
   * Sums, coefficients and the output pass over the input buffer, into `out` (in place by default);
   * `overflow`: a float16 output beyond its range.
   */
  private chain(
    shape: Shape4,
    l: Layout,
    plan: CrossNormPlan,
    selfnorm: SelfNormConfig | null,
    onNonFinite: () => void,
    kind: 'float32' | HalfKind,
    out = l.input,
  ): { stats: SelfNormBatchStats | null; overflow: boolean } {
    const [N, C, H, W] = shape;
    const planes = N * C;
    const hw = H * W;
    const buf = this.exports.memory.buffer;
    this.writeMasks(buf, l, hw, W, plan.contentBox, plan.styleBox);
    const e = this.exports;
    const finite = (kind === 'float32' ? e.sums : kind === 'bfloat16' ? e.sumsBf16 : e.sumsF16)(
      l.input,
      planes,
      hw,
      plan.contentBox ? l.maskC : 0,
      plan.styleBox ? l.maskS : 0,
      l.sums,
    );
    if (!finite) onNonFinite();

    new Int32Array(buf, l.ins, N).set(plan.insIdxs);
    const chan = new Int32Array(buf, l.chan, C);
    if (plan.chanIdxs) chan.set(plan.chanIdxs);
    else for (let c = 0; c < C; c++) chan[c] = c;
    const two = selfnorm?.params.fWeight && selfnorm.params.fBn ? 1 : 0;
    if (selfnorm) {
      writeGate(buf, l.gParams, selfnorm.params.gWeight, selfnorm.params.gBn);
      if (two)
        writeGate(buf, l.fParams, selfnorm.params.fWeight ?? [], selfnorm.params.fBn as BatchNormParams);
    }
    this.exports.coefficients(
      N,
      C,
      hw,
      l.sums,
      plan.contentBox ? 1 : 0,
      plan.styleBox ? 1 : 0,
      boxArea(plan.contentBox, hw),
      boxArea(plan.styleBox, hw),
      plan.fires ? 1 : 0,
      plan.lam ?? 0,
      l.ins,
      l.chan,
      selfnorm ? (selfnorm.mode === 'train' ? 1 : 2) : 0,
      two,
      l.gParams,
      l.fParams,
      l.coef,
      l.stats,
      l.scratch,
    );
    const mask = plan.contentBox ? l.maskI : 0;
    let overflow = false;
    if (kind === 'float32') e.apply(l.input, l.input, planes, hw, mask, l.coef);
    else
      overflow =
        (kind === 'bfloat16' ? e.applyBf16 : e.applyF16)(l.input, out, planes, hw, mask, l.coef) !== 0;
    if (selfnorm?.mode !== 'train') return { stats: null, overflow };
    const stats = (at: number): BatchNormBatchStats => {
      const mean = new Float64Array(buf, at, C).slice();
      const variance = new Float64Array(buf, at + C * 8, C).slice();
      return { mean, var: variance, unbiasedVar: variance.map((v) => (v * N) / (N - 1)) };
    };
    return { stats: { g: stats(l.stats), ...(two ? { f: stats(l.stats + C * 16) } : {}) }, overflow };
  }

  stats(batch: FeatureBatch, eps: number): { mean: Float64Array; std: Float64Array } {
    const [N, C, H, W] = batch.shape;
    const planes = N * C;
    const l = this.prepare(batch.shape);
    this.load(batch.data, l);
    this.exports.sums(l.input, planes, H * W, 0, 0, l.sums);
    const sums = new Float64Array(this.exports.memory.buffer, l.sums, 2 * planes);
    const mean = new Float64Array(planes);
    const std = new Float64Array(planes);
    for (let p = 0; p < planes; p++)
      [mean[p], std[p]] = meanStd(sums[p] as number, sums[p + planes] as number, H * W, eps);
    return { mean, std };
  }

  /** Copies the batch in unless it already sits in this engine's input buffer; says which. */
  private load(data: Float32Array, l: Layout): boolean {
    const buf = this.exports.memory.buffer;
    if (data.buffer === buf && data.byteOffset === l.input) return true;
    new Float32Array(buf, l.input, data.length).set(data);
    return false;
  }

  private prepare(shape: Shape4): Layout {
    const [N, C, H, W] = shape;
    const key = shape.join(',');
    if (this.layout?.key === key) return this.layout;
    const planes = N * C;
    const hw = H * W;
    let at = HEAP_BASE;
    const take = (bytes: number): number => {
      const start = at;
      at = Math.ceil((at + bytes) / 16) * 16;
      return start;
    };
    const l: Layout = {
      key,
      input: (take(BORROW_HEADROOM), take(planes * hw * 4)),
      maskC: take(hw * 8),
      maskS: take(hw * 8),
      maskI: take(hw * 4),
      sums: take(planes * SUMS_PER_PLANE * 8),
      scratch: take(planes * 6 * 8),
      coef: take(planes * 16),
      ins: take(N * 4),
      chan: take(C * 4),
      gParams: take((6 * C + 1) * 8),
      fParams: take((6 * C + 1) * 8),
      stats: take(4 * C * 8),
      end: 0,
    };
    l.end = at;
    const memory = this.exports.memory;
    if (memory.buffer.byteLength < l.end) memory.grow(Math.ceil((l.end - memory.buffer.byteLength) / 65536));
    this.layout = l;
    this.maskKey = '';
    return l;
  }

  private writeMasks(
    buf: ArrayBuffer,
    l: Layout,
    hw: number,
    W: number,
    contentBox: Box | null,
    styleBox: Box | null,
  ): void {
    const key = `${contentBox?.join()};${styleBox?.join()}`;
    if (key === this.maskKey) return;
    // All-ones lanes inside a box: the module selects with bitwise and, not a multiply.
    // 64-bit lanes are written as pairs of 32-bit halves.
    const fill = (box: Box | null, target: Int32Array, lanes: number): void => {
      target.fill(0);
      if (!box) return;
      for (let r = box[0]; r < box[2]; r++)
        target.fill(-1, (r * W + box[1]) * lanes, (r * W + box[3]) * lanes);
    };
    fill(contentBox, new Int32Array(buf, l.maskC, 2 * hw), 2);
    fill(styleBox, new Int32Array(buf, l.maskS, 2 * hw), 2);
    fill(contentBox, new Int32Array(buf, l.maskI, hw), 1);
    this.maskKey = key;
  }
}

/** One gate's parameters as the module reads them: w0, w1, weight, bias, runningMean, runningVar, eps. */
function writeGate(buf: ArrayBuffer, at: number, weight: Array<[number, number]>, bn: BatchNormParams): void {
  const C = weight.length;
  const v = new Float64Array(buf, at, 6 * C + 1);
  for (let c = 0; c < C; c++) {
    const w = weight[c] as [number, number];
    v[c] = w[0];
    v[C + c] = w[1];
  }
  v.set(bn.weight, 2 * C);
  v.set(bn.bias, 3 * C);
  v.set(bn.runningMean, 4 * C);
  v.set(bn.runningVar, 5 * C);
  v[6 * C] = bn.eps;
}

/** The module's one import: AssemblyScript's abort, which --noAssert leaves to a trap. */
export function wasmAbort(): never {
  throw new Error('fused.wasm aborted');
}
