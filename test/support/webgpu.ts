import { BackendUnavailableError, createBackend } from '@cnsn/kernels';

/**
 * Why webgpu cannot run here (no Vulkan driver), or null when it can: lavapipe on CI
 * (tools/install-vulkan.sh), the GPU's own on a GPU node. Suites skip on a reason, unless
 * CNSN_REQUIRE_WEBGPU is set (CI sets it): then their first check fails with it.
 */
export async function webgpuUnavailable(): Promise<string | null> {
  return createBackend('webgpu').then(
    async ({ backend }) => {
      await backend.dispose();
      return null;
    },
    (err: unknown) => (err instanceof BackendUnavailableError ? err.message : Promise.reject(err)),
  );
}

/** CNSN_REQUIRE_WEBGPU: a missing adapter fails the WebGPU suites instead of skipping them. */
export const WEBGPU_REQUIRED = Boolean(process.env.CNSN_REQUIRE_WEBGPU);
