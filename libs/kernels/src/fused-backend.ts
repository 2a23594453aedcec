import {
  type AugmentRequest,
  type AugmentResult,
  checkOut,
  type InstanceStats,
  type KernelBackend,
  validateRequest,
  validateRequestFor,
} from './backend.js';
import { BORROW_HEADROOM, type FusedEngine, type HalfKind } from './fused-engine.js';
import { FusedJsEngine } from './fused-js-engine.js';
import { fusedWasmLoadError, FusedWasmEngine, loadFusedWasm } from './fused-wasm-engine.js';
import { halfSimd } from './half-simd.js';
import { identityPlan } from './plan.js';
import { assertFinite, type FeatureBatch, type Shape4, validateBatch, validateShape } from './tensor.js';

/**
 * The default CPU backend: CrossNorm and SelfNorm fused into two passes over the batch
 * (read twice, write once), in WebAssembly SIMD when built, else in plain TypedArray loops.
 */
export class FusedBackend implements KernelBackend {
  readonly name: 'fused' | 'fused-js';
  readonly description: string;
  private readonly engine: FusedEngine;

  /** `engine`: 'wasm' (falls back to js when the module is not built), or 'js' to force the portable loops. */
  constructor(engine: 'wasm' | 'js' = 'wasm') {
    const module = engine === 'wasm' ? loadFusedWasm() : null;
    this.engine = module ? new FusedWasmEngine(module) : new FusedJsEngine();
    this.name = engine === 'js' ? 'fused-js' : 'fused';
    this.description =
      module || engine === 'js'
        ? `${this.name} (${this.engine.name})`
        : `${this.name} (js: WebAssembly module not loaded: ${fusedWasmLoadError()})`;
  }

  /**
   * A Float32Array for one batch of `shape` inside the backend's own memory. Fill it, then call
   * `augment({ data: it, shape }, request, it)`: the batch is augmented in place with no copy in or
   * out. Valid until the next `borrow` or a batch of another shape.
   */
  borrow(shape: Shape4): Float32Array {
    return this.engine.borrow(validateShape(shape));
  }

  /**
   * The borrowed buffer with `before` bytes ahead of it (at most {@link BORROW_HEADROOM}), as bytes:
   * a message whose values start `before` bytes in can be received in one piece, values in place.
   */
  borrowFramed(shape: Shape4, before: number): Uint8Array {
    if (!Number.isInteger(before) || before < 0 || before > BORROW_HEADROOM)
      throw new RangeError(`borrowFramed: ${before} bytes before the batch; at most ${BORROW_HEADROOM}`);
    const data = this.borrow(shape);
    return new Uint8Array(data.buffer, data.byteOffset - before, before + data.byteLength);
  }

  async augment(batch: FeatureBatch, request: AugmentRequest, out?: Float32Array): Promise<AugmentResult> {
    return this.augmentSync(batch, request, out);
  }

  /**
   * `augment` without the promise: the result is in `out` when it returns, so a caller using a
   * borrowed buffer can copy it out before anything else runs.
   */
  augmentSync(batch: FeatureBatch, request: AugmentRequest, out?: Float32Array): AugmentResult {
    // The non-finite scan is free here: a NaN or Inf input makes its plane's sums non-finite.
    validateRequest(batch, request, { scanFinite: false });
    const target = checkOut(out, batch.data.length);
    const plan = request.plan.fires ? request.plan : identityPlan(batch.shape[0]);
    const onNonFinite = (): void => {
      if (!request.allowNonFinite) assertFinite(batch);
    };
    const selfnormStats = this.engine.run(batch, plan, request.selfnorm, target, onNonFinite);
    return { data: target, selfnormStats };
  }

  /**
   * The borrowed buffer for a 16-bit batch, `before` bytes of frame ahead of it (as borrowFramed):
   * null when the engine cannot convert inside its passes (fused-js).
   */
  borrowFramedHalf(shape: Shape4, before: number): Uint8Array | null {
    if (!this.engine.borrowHalf || !Number.isInteger(before) || before < 0 || before > BORROW_HEADROOM)
      return null;
    const data = this.engine.borrowHalf(validateShape(shape));
    return new Uint8Array(data.buffer, data.byteOffset - before, before + data.byteLength);
  }

  /**
   * The chain on the 16-bit batch in borrowFramedHalf's buffer: widened and narrowed inside the two
   * passes, bit for bit `augmentSync` between the protocol's widen and narrow. The output is a view
   * of the engine's memory, valid until the next borrow. `overflow`: a float16 output beyond
   * +-65504, which the caller refuses (the input is still in the buffer to name it from).
   */
  augmentHalfSync(shape: Shape4, request: AugmentRequest, dtype: HalfKind): HalfResultSync {
    const { borrowHalf, runHalf } = this.engine;
    if (!borrowHalf || !runHalf)
      throw new Error(`${this.description} converts 16-bit wires on the host only`);
    // The plan and SelfNorm checked against the shape; the values are checked from the sums.
    validateRequestFor(shape, request);
    const input = borrowHalf.call(this.engine, shape);
    const plan = request.plan.fires ? request.plan : identityPlan(shape[0]);
    const onNonFinite = (): void => {
      // Rare: widened only to name the value the same way a float32 batch does.
      if (request.allowNonFinite) return;
      const widened = new Float32Array(input.length);
      // Present wherever runHalf is: both come with the WebAssembly module.
      halfSimd()?.widen(input, widened, dtype);
      assertFinite({ data: widened, shape });
    };
    const run = runHalf.call(this.engine, shape, plan, request.selfnorm, onNonFinite, dtype);
    return { data: run.data, selfnormStats: run.stats, overflow: run.overflow };
  }

  async instanceStats(batch: FeatureBatch, eps: number): Promise<InstanceStats> {
    validateBatch(batch, { allowNonFinite: true });
    return this.engine.stats(batch, eps);
  }

  async dispose(): Promise<void> {
    // Nothing to release: the engine memory goes with the object.
  }
}

/** A 16-bit batch's result: its output in the same 16 bits, and whether a float16 value overflowed. */
export interface HalfResultSync {
  data: Uint16Array;
  selfnormStats: AugmentResult['selfnormStats'];
  overflow: boolean;
}
