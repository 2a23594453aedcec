import { BackendUnavailableError } from './errors.js';

/** What a WebGPU adapter says of itself (Dawn's GPUAdapterInfo), and what kind of device it is. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A GPU (discrete or integrated), or a CPU Vulkan driver (lavapipe, llvmpipe, SwiftShader). */
  kind: 'hardware' | 'cpu';
}

/** What to install when Dawn finds no adapter, or a node lacks one. */
export const WEBGPU_INSTALL_HINT =
  "install the Vulkan loader (libvulkan1) and a Vulkan driver: on an NVIDIA node the driver's own Vulkan ICD, which needs glvnd's EGL (libegl1; in containers, NVIDIA_DRIVER_CAPABILITIES must include \"graphics\"); on a machine without a GPU, Mesa's lavapipe from bookworm-backports (tools/install-vulkan.sh; bookworm's Mesa 22.3 is refused by Dawn)";

const CPU_DRIVER = /llvmpipe|lavapipe|swiftshader|software/i;

/** True for CPU Vulkan drivers: `auto` never takes a GPU backend on one. */
export function isCpuAdapter(info: {
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  return (
    Boolean(info.isFallbackAdapter) ||
    CPU_DRIVER.test(`${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`)
  );
}

/** One line for logs and status: vendor, device, driver. */
export function describeAdapter(info: GpuAdapterInfo): string {
  return `${info.kind === 'cpu' ? 'CPU adapter' : 'GPU'} ${info.vendor || 'unknown vendor'} ${info.device || ''} (${info.description || info.architecture || 'no driver description'})`.replace(
    /\s+/g,
    ' ',
  );
}

export interface OpenedWebGpu {
  gpu: GPU;
  adapter: GPUAdapter;
  info: GpuAdapterInfo;
}

/**
 * Loads Dawn (the `webgpu` package) and asks for its best adapter (high performance first). Throws
 * {@link BackendUnavailableError} saying what to install when the package or an adapter is missing.
 */
export async function openWebGpu(): Promise<OpenedWebGpu> {
  const gpu = await loadDawn();
  const adapter =
    (await gpu.requestAdapter({ powerPreference: 'high-performance' })) ?? (await gpu.requestAdapter());
  if (!adapter)
    throw new BackendUnavailableError(
      'webgpu',
      'Dawn found no WebGPU adapter (no Vulkan driver)',
      WEBGPU_INSTALL_HINT,
    );
  return { gpu, adapter, info: adapterInfo(adapter) };
}

/**
 * Every adapter Dawn offers (high performance, low power, and the fallback), each once: what a GPU
 * check lists before it picks one. Empty when Dawn loads but finds no Vulkan driver.
 */
export async function listWebGpuAdapters(): Promise<GpuAdapterInfo[]> {
  const gpu = await loadDawn();
  const seen = new Map<string, GpuAdapterInfo>();
  const asks: GPURequestAdapterOptions[] = [
    { powerPreference: 'high-performance' },
    { powerPreference: 'low-power' },
    { forceFallbackAdapter: true },
  ];
  for (const ask of asks) {
    const adapter = await gpu.requestAdapter(ask);
    if (!adapter) continue;
    const info = adapterInfo(adapter);
    seen.set(describeAdapter(info), info);
  }
  return [...seen.values()];
}

function adapterInfo(adapter: GPUAdapter): GpuAdapterInfo {
  const raw = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return {
    vendor: raw.vendor ?? '',
    architecture: raw.architecture ?? '',
    device: raw.device ?? '',
    description: raw.description ?? '',
    kind: isCpuAdapter(raw) ? 'cpu' : 'hardware',
  };
}

async function loadDawn(): Promise<GPU> {
  let dawn: { create(options: string[]): GPU; globals: object };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (err) {
    throw new BackendUnavailableError(
      'webgpu',
      `the webgpu package (Dawn) did not load: ${(err as Error).message.split('\n')[0]}`,
      'npm ci installs it (an optional dependency with dawn.node for linux-x64); it needs libstdc++ and, at run time, libvulkan1',
    );
  }
  // Dawn's constructors and enums (GPUBufferUsage, GPUMapMode, ...) are globals in a browser.
  for (const [k, v] of Object.entries(dawn.globals))
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  return dawn.create([]);
}
