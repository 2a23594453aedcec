import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, createBackend } from '../src/index.js';

const require = createRequire(import.meta.url);
const hasTfjsNode = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'].some((pkg) => {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
});

describe('choosing a backend', () => {
  it('fused runs WebAssembly SIMD when the module is built (npm ci builds it)', async () => {
    const { backend } = await createBackend('fused');
    expect(backend.description).toBe('fused (wasm-simd)');
  });

  it.skipIf(hasTfjsNode)('tfjs-tensorflow without tfjs-node says why and what to install', async () => {
    const err = await createBackend('tfjs-tensorflow').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as Error).message).toContain('@tensorflow/tfjs-node-gpu');
    expect((err as Error).message).toMatch(/install @tensorflow\/tfjs-node-gpu@4\.\d+\.\d+/);
  });

  it.skipIf(hasTfjsNode)('auto falls back to fused and says why', async () => {
    const { backend, reason } = await createBackend('auto');
    expect(backend.name).toBe('fused');
    expect(reason).toMatch(/fell back to fused because backend tfjs-tensorflow is unavailable/);
  });

  it.runIf(hasTfjsNode)('auto picks tfjs-tensorflow when it loads', async () => {
    const { backend } = await createBackend('auto');
    expect(backend.name).toBe('tfjs-tensorflow');
  });
});
