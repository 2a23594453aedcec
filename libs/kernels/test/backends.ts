import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackendUnavailableError,
  type ConcreteBackendName,
  createBackend,
  type KernelBackend,
  type Tf,
  WebGpuBackend,
} from '../src/index.js';

/**
 * Every backend the kernel tests run on (tfjs-tensorflow needs libtensorflow, absent on CI).
 * webgpu needs a Vulkan driver: lavapipe on CI (tools/install-vulkan.sh), the GPU's own on a
 * GPU node.
 */
export const TESTED_BACKENDS: ConcreteBackendName[] = [
  'fused',
  'fused-js',
  'tfjs-cpu',
  'tfjs-wasm',
  'webgpu',
];

/** Backends whose absence is reported rather than failed, unless the environment requires them. */
const MAY_BE_ABSENT: Partial<Record<ConcreteBackendName, string>> = { webgpu: 'CNSN_REQUIRE_WEBGPU' };

export interface BackendContext {
  backend: KernelBackend;
}

/** Whether a backend can be made here; the reason when not (once per process and backend). */
const availability = new Map<ConcreteBackendName, Promise<string | null>>();
function unavailable(name: ConcreteBackendName): Promise<string | null> {
  let p = availability.get(name);
  if (!p) {
    p = createBackend(name).then(
      async ({ backend }) => {
        await backend.dispose();
        return null;
      },
      (err: unknown) => (err instanceof BackendUnavailableError ? err.message : Promise.reject(err)),
    );
    availability.set(name, p);
  }
  return p;
}

/**
 * Runs one suite per backend against the same expectations. For tfjs backends it also checks, after
 * the suite, that no tensor outlived it (tf.memory().numTensors back to where it started); for
 * webgpu, that it holds one batch shape's GPU buffers at most and none after dispose. A backend
 * that cannot load here (no Vulkan driver for webgpu) gets one skipped test that says why;
 * with its environment variable set (CI sets CNSN_REQUIRE_WEBGPU=1) that is a failure instead.
 */
export function describeEachBackend(title: string, suite: (ctx: BackendContext) => void): void {
  for (const name of TESTED_BACKENDS) {
    describe(`${title} [${name}]`, async () => {
      const why = name in MAY_BE_ABSENT ? await unavailable(name) : null;
      if (why) {
        const required = process.env[MAY_BE_ABSENT[name] as string];
        if (required)
          it(`${name} is required here (${MAY_BE_ABSENT[name]}) but unavailable`, () => expect.fail(why));
        else it.skip(`${name} unavailable here: ${why}`, () => undefined);
        return;
      }
      const ctx = {} as BackendContext;
      let tf: Tf | null = null;
      let tensorsBefore = 0;
      let gpu: WebGpuBackend | null = null;
      beforeAll(async () => {
        ctx.backend = (await createBackend(name)).backend;
        if (ctx.backend instanceof WebGpuBackend) gpu = ctx.backend;
        else if (name.startsWith('tfjs')) {
          tf = await import('@tensorflow/tfjs-core');
          tensorsBefore = tf.memory().numTensors;
        }
      });
      suite(ctx);
      afterAll(async () => {
        if (tf) expect(tf.memory().numTensors, `${name} leaked tensors`).toBe(tensorsBefore);
        // At most one batch shape's buffers are kept for its one slot (15 + 3 per segment), and none past dispose.
        if (gpu) expect(gpu.liveBuffers, `${name} holds GPU buffers of old shapes`).toBeLessThanOrEqual(18);
        await ctx.backend.dispose();
        if (gpu) expect(gpu.liveBuffers, `${name} leaked GPU buffers`).toBe(0);
      });
    });
  }
}
