import type * as tfc from '@tensorflow/tfjs-core';
import {
  type AugmentRequest,
  type AugmentResult,
  checkOut,
  type InstanceStats,
  type KernelBackend,
  validateRequest,
} from './backend.js';
import { type Box } from './box-sampler.js';
import {
  boxArea,
  CROSSNORM_EPS,
  SELFNORM_EPS,
  type BatchNormBatchStats,
  type SelfNormBatchStats,
} from './coefficients.js';
import type { BatchNormParams, SelfNormConfig } from './selfnorm-params.js';
import { type FeatureBatch, validateBatch } from './tensor.js';
import type { LoadedTfjs, Tf } from './tfjs-loader.js';

export type TfjsBackendName = 'tfjs-tensorflow' | 'tfjs-wasm' | 'tfjs-cpu';

// Ranks are tracked by the algebra, not the types: tfjs ops return Tensor<Rank>.
type T2 = tfc.Tensor;

/** CrossNorm's affine map per plane, with what SelfNorm's statistics need of the content region. */
interface TfCrossNorm {
  a: T2;
  b: T2;
  inside: { mean: T2; m2: T2 };
  maskC: tfc.Tensor | null;
  nIn: number;
}

/** The chain's affine maps inside and outside the content region, and SelfNorm's BatchNorm stats. */
interface TfAffine {
  alphaIn: T2;
  betaIn: T2;
  alphaOut: T2;
  betaOut: T2;
  stats: tfc.Tensor[];
}
type T3 = tfc.Tensor;

/**
 * The fused algebra as TensorFlow.js ops: masked moments (centred, so float32 stays exact enough),
 * small gathers of the N x C style tables, Chan's combination for SelfNorm's statistics of the
 * CrossNorm output, and a single multiply-add over the batch. Runs on tfjs-node(-gpu), wasm or cpu.
 */
export class TfjsBackend implements KernelBackend {
  readonly name: TfjsBackendName;
  readonly description: string;
  private readonly tf: Tf;
  private readonly tfBackend: string;

  constructor(name: TfjsBackendName, loaded: LoadedTfjs) {
    this.name = name;
    this.tf = loaded.tf;
    this.tfBackend = loaded.tfBackend;
    this.description = `${name} (${loaded.detail})`;
  }

  async augment(batch: FeatureBatch, request: AugmentRequest, out?: Float32Array): Promise<AugmentResult> {
    validateRequest(batch, request);
    const target = checkOut(out, batch.data.length);
    await this.use();
    const result = this.tf.tidy(() => this.graph(batch, request));
    try {
      target.set(await result.y.data<'float32'>());
      return { data: target, selfnormStats: await this.batchNormStats(result.stats, batch.shape[0]) };
    } finally {
      this.tf.dispose([result.y, ...result.stats]);
    }
  }

  /** The whole chain as one op graph: y = x * alpha + beta, alpha and beta per plane and region. */
  private graph(batch: FeatureBatch, request: AugmentRequest): { y: tfc.Tensor; stats: tfc.Tensor[] } {
    const tf = this.tf;
    const [N, C, H, W] = batch.shape;
    const x = tf.tensor3d(batch.data, [N, C, H * W]);
    const cn = this.crossNorm(x, request.plan, H, W);
    const sn = request.selfnorm
      ? this.selfNorm(x, cn, request.selfnorm, H * W)
      : { alphaIn: cn.a, betaIn: cn.b, alphaOut: tf.onesLike(cn.a), betaOut: tf.zerosLike(cn.a), stats: [] };
    const { maskC } = cn;
    const alpha = maskC ? this.select(maskC, sn.alphaIn, sn.alphaOut) : tf.expandDims(sn.alphaIn, 2);
    const beta = maskC ? this.select(maskC, sn.betaIn, sn.betaOut) : tf.expandDims(sn.betaIn, 2);
    return { y: tf.add(tf.mul(x, alpha), beta), stats: sn.stats };
  }

  /** CrossNorm as y = a * x + b on the content region (the mask; null: the whole plane). */
  private crossNorm(x: T3, plan: AugmentRequest['plan'], H: number, W: number): TfCrossNorm {
    const tf = this.tf;
    const hw = H * W;
    const contentBox = plan.fires ? plan.contentBox : null;
    const styleBox = plan.fires ? plan.styleBox : null;
    const nIn = boxArea(contentBox, hw);
    const maskC = contentBox ? this.mask(contentBox, H, W) : null;
    const inside = this.moments(x, maskC, nIn);
    if (!plan.fires) return { a: tf.onesLike(inside.mean), b: tf.zerosLike(inside.mean), inside, maskC, nIn };
    const style = this.moments(x, styleBox ? this.mask(styleBox, H, W) : null, boxArea(styleBox, hw));
    const permute = (t: T2): T2 => {
      const byInstance = tf.gather(t, plan.insIdxs, 0);
      return plan.chanIdxs ? tf.gather(byInstance, plan.chanIdxs, 1) : byInstance;
    };
    const ms = permute(style.mean);
    const ss = permute(this.std(style.m2, boxArea(styleBox, hw), CROSSNORM_EPS));
    const sc = this.std(inside.m2, nIn, CROSSNORM_EPS);
    const A = tf.div(ss, sc);
    const B = tf.sub(ms, tf.mul(A, inside.mean));
    const lam = plan.lam;
    return {
      a: lam === null ? A : tf.add(tf.scalar(lam), tf.mul(A, 1 - lam)),
      b: lam === null ? B : tf.mul(B, 1 - lam),
      inside,
      maskC,
      nIn,
    };
  }

  /** SelfNorm's gates on the statistics of y = CrossNorm(x), folded into the affine maps. */
  private selfNorm(x: T3, cn: TfCrossNorm, selfnorm: SelfNormConfig, hw: number): TfAffine {
    const tf = this.tf;
    const { a, b, inside, maskC, nIn } = cn;
    // Statistics of y = a x + b (inside) and y = x (outside) by Chan's parallel combination.
    const yInMean = tf.add(tf.mul(a, inside.mean), b);
    let meanY: T2 = yInMean;
    let m2Y: T2 = tf.mul(tf.square(a), inside.m2);
    if (maskC) {
      const nOut = hw - nIn;
      const outside = this.moments(x, tf.sub(1, maskC), nOut);
      meanY = tf.div(tf.add(tf.mul(yInMean, nIn), tf.mul(outside.mean, nOut)), hw);
      m2Y = tf.addN([
        m2Y,
        tf.mul(tf.square(tf.sub(yInMean, meanY)), nIn),
        outside.m2,
        tf.mul(tf.square(tf.sub(outside.mean, meanY)), nOut),
      ]);
    }
    const stdY = this.std(m2Y, hw, SELFNORM_EPS);
    const { params, mode } = selfnorm;
    const g = this.gate(params.gWeight, params.gBn, mode, meanY, stdY);
    const out: TfAffine = {
      alphaIn: tf.mul(a, g.gate),
      betaIn: tf.mul(b, g.gate),
      alphaOut: g.gate,
      betaOut: tf.zerosLike(a),
      stats: [...g.stats],
    };
    if (params.fWeight && params.fBn) {
      const f = this.gate(params.fWeight, params.fBn, mode, meanY, stdY);
      out.stats.push(...f.stats);
      const offset = tf.mul(meanY, tf.sub(f.gate, g.gate));
      out.betaIn = tf.add(out.betaIn, offset);
      out.betaOut = offset;
    }
    return out;
  }

  /** SelfNorm's BatchNorm batch statistics (train mode), read back from their tensors. */
  private async batchNormStats(tensors: tfc.Tensor[], N: number): Promise<SelfNormBatchStats | null> {
    const s = await Promise.all(tensors.map((t) => t.data<'float32'>()));
    const bn = (i: number): BatchNormBatchStats => ({
      mean: Float64Array.from(s[i] as Float32Array),
      var: Float64Array.from(s[i + 1] as Float32Array),
      unbiasedVar: Float64Array.from(s[i + 1] as Float32Array, (v) => (N > 1 ? (v * N) / (N - 1) : 0)),
    });
    return s.length > 0 ? { g: bn(0), ...(s.length > 2 ? { f: bn(2) } : {}) } : null;
  }

  async instanceStats(batch: FeatureBatch, eps: number): Promise<InstanceStats> {
    validateBatch(batch, { allowNonFinite: true });
    await this.use();
    const [N, C, H, W] = batch.shape;
    const [mean, std] = this.tf.tidy(() => {
      const m = this.moments(this.tf.tensor3d(batch.data, [N, C, H * W]), null, H * W);
      return [m.mean, this.std(m.m2, H * W, eps)];
    });
    try {
      return { mean: Float64Array.from(await mean.data()), std: Float64Array.from(await std.data()) };
    } finally {
      this.tf.dispose([mean, std]);
    }
  }

  async dispose(): Promise<void> {
    // Tensors never outlive a call; the tfjs backend itself is shared by the process.
  }

  /** tfjs-core has one active backend per process; tests run several, so switch when needed. */
  private async use(): Promise<void> {
    if (this.tf.getBackend() !== this.tfBackend) await this.tf.setBackend(this.tfBackend);
  }

  /** 0/1 mask of a box over the flattened H*W map. */
  private mask(box: Box, H: number, W: number): tfc.Tensor {
    const m = new Float32Array(H * W);
    for (let r = box[0]; r < box[2]; r++) m.fill(1, r * W + box[1], r * W + box[3]);
    return this.tf.tensor1d(m);
  }

  /** Mean and sum of squared deviations per (n, c) over the region of `mask` (whole map when null). */
  private moments(x: T3, mask: tfc.Tensor | null, count: number): { mean: T2; m2: T2 } {
    const tf = this.tf;
    const mean = tf.div(tf.sum(mask ? tf.mul(x, mask) : x, 2), count);
    const dev = tf.sub(x, tf.expandDims(mean, 2));
    const m2 = tf.sum(tf.square(mask ? tf.mul(dev, mask) : dev), 2);
    return { mean, m2 };
  }

  private std(m2: T2, count: number, eps: number): T2 {
    return this.tf.sqrt(this.tf.add(this.tf.div(m2, count - 1), eps));
  }

  private select(mask: tfc.Tensor, inside: T2, outside: T2): T3 {
    const tf = this.tf;
    return tf.add(tf.expandDims(outside, 2), tf.mul(tf.expandDims(tf.sub(inside, outside), 2), mask));
  }

  private gate(
    weight: Array<[number, number]>,
    bn: BatchNormParams,
    mode: 'train' | 'eval',
    meanY: T2,
    stdY: T2,
  ): { gate: T2; stats: tfc.Tensor[] } {
    const tf = this.tf;
    const w = tf.tensor2d(weight);
    const z = tf.add(
      tf.mul(meanY, tf.reshape(tf.slice(w, [0, 0], [-1, 1]), [-1])),
      tf.mul(stdY, tf.reshape(tf.slice(w, [0, 1], [-1, 1]), [-1])),
    );
    let mu: tfc.Tensor;
    let variance: tfc.Tensor;
    if (mode === 'train') {
      const m = tf.moments(z, 0);
      mu = m.mean as tfc.Tensor;
      variance = m.variance as tfc.Tensor;
    } else {
      mu = tf.tensor1d(bn.runningMean);
      variance = tf.tensor1d(bn.runningVar);
    }
    const norm = tf.div(tf.sub(z, mu), tf.sqrt(tf.add(variance, bn.eps)));
    const gate = tf.sigmoid(tf.add(tf.mul(norm, tf.tensor1d(bn.weight)), tf.tensor1d(bn.bias)));
    return { gate, stats: mode === 'train' ? [mu, variance] : [] };
  }
}
