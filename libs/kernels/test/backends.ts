import { describe, afterAll, beforeAll, expect } from 'vitest';
import { createBackend, type ConcreteBackendName, type KernelBackend, type Tf } from '../src/index.js';

/** Every backend the kernel tests run on here (tfjs-tensorflow needs libtensorflow, absent on CI). */
export const TESTED_BACKENDS: ConcreteBackendName[] = ['fused', 'fused-js', 'tfjs-cpu', 'tfjs-wasm'];

export interface BackendContext {
  backend: KernelBackend;
}

/**
 * Runs one suite per backend against the same expectations. For tfjs backends it also checks, after
 * the suite, that no tensor outlived it (tf.memory().numTensors back to where it started).
 */
export function describeEachBackend(title: string, suite: (ctx: BackendContext) => void): void {
  for (const name of TESTED_BACKENDS) {
    describe(`${title} [${name}]`, () => {
      const ctx = {} as BackendContext;
      let tf: Tf | null = null;
      let tensorsBefore = 0;
      beforeAll(async () => {
        ctx.backend = (await createBackend(name)).backend;
        if (name.startsWith('tfjs')) {
          tf = await import('@tensorflow/tfjs-core');
          tensorsBefore = tf.memory().numTensors;
        }
      });
      suite(ctx);
      afterAll(async () => {
        if (tf) expect(tf.memory().numTensors, `${name} leaked tensors`).toBe(tensorsBefore);
        await ctx.backend.dispose();
      });
    });
  }
}
