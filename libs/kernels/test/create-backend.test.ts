import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { BackendUnavailableError, createBackend, isCpuAdapter, parseBackendName } from '../src/index.js';

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

  it.skipIf(hasTfjsNode)(
    'auto falls back to fused and says why it passed each GPU backend over',
    async () => {
      const { backend, reason } = await createBackend('auto');
      expect(backend.name).toBe('fused');
      // No hardware GPU here: lavapipe (a CPU Vulkan driver) is passed over, or no adapter at all.
      expect(reason).toMatch(
        /^auto: fused, because webgpu: (passed over CPU adapter .* \(a CPU Vulkan driver is slower than fused\)|backend webgpu is unavailable: .*)/,
      );
      expect(reason).toContain('tfjs-tensorflow: backend tfjs-tensorflow is unavailable');
    },
  );

  it("takes a backend's old name with one notice: tfjs-webgpu is webgpu", () => {
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(parseBackendName('tfjs-webgpu')).toBe('webgpu');
      expect(parseBackendName('tfjs-webgpu')).toBe('webgpu');
      const notices = write.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('tfjs-webgpu'));
      expect(notices).toEqual([
        'cnsn: backend tfjs-webgpu is now called webgpu; the old name still works, for now\n',
      ]);
    } finally {
      write.mockRestore();
    }
    expect(() => parseBackendName('tfjs-webgl')).toThrow(/backend: must be one of auto, fused/);
  });

  it('tells CPU Vulkan drivers from GPUs', () => {
    expect(
      isCpuAdapter({
        architecture: 'software',
        device: 'llvmpipe-llvm-15',
        description: 'llvmpipe: Mesa 25.0.7',
      }),
    ).toBe(true);
    expect(isCpuAdapter({ description: 'SwiftShader Device (Subzero)' })).toBe(true);
    expect(isCpuAdapter({ isFallbackAdapter: true })).toBe(true);
    expect(
      isCpuAdapter({
        architecture: 'hopper',
        device: 'NVIDIA H100 80GB HBM3',
        description: 'NVIDIA: 580.65.06',
      }),
    ).toBe(false);
    expect(
      isCpuAdapter({ architecture: 'rdna-3', device: 'AMD Radeon RX 7900', description: 'radv Mesa 25.0.7' }),
    ).toBe(false);
  });

  it('webgpu says which adapter it runs on, and that auto would not take a CPU one', async () => {
    const created = await createBackend('webgpu').catch((e: unknown) => e);
    if (created instanceof BackendUnavailableError) {
      expect(created.message).toMatch(/install the Vulkan loader \(libvulkan1\) and a Vulkan driver/);
      return;
    }
    const { backend, reason } = created as Awaited<ReturnType<typeof createBackend>>;
    expect(backend.description).toMatch(/^webgpu \(WGSL on (GPU|CPU adapter) /);
    expect(backend.adapter?.kind).toBe(backend.description.includes('CPU adapter') ? 'cpu' : 'hardware');
    if (backend.description.includes('CPU adapter')) expect(reason).toContain('auto would not take it');
    await backend.dispose();
  });

  it.runIf(hasTfjsNode)('auto picks tfjs-tensorflow when it loads', async () => {
    const { backend } = await createBackend('auto');
    expect(backend.name).toBe('tfjs-tensorflow');
  });
});
