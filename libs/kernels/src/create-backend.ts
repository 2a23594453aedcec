import { BACKEND_ALIASES, BACKEND_NAMES, type BackendName, type KernelBackend } from './backend.js';

const noticed = new Set<string>();

/** An old backend name: its new one, said once per process on stderr. */
function renamed(old: string, now: BackendName): BackendName {
  if (!noticed.has(old)) {
    noticed.add(old);
    process.stderr.write(`cnsn: backend ${old} is now called ${now}; the old name still works, for now\n`);
  }
  return now;
}
import { BackendUnavailableError, KernelInputError, show } from './errors.js';
import { FusedBackend } from './fused-backend.js';
import { TfjsBackend } from './tfjs-backend.js';
import { loadTfjs } from './tfjs-loader.js';
import { describeAdapter } from './webgpu-adapter.js';
import { WebGpuBackend } from './webgpu-backend.js';

export interface CreatedBackend {
  backend: KernelBackend;
  /** Why this backend was chosen (for `auto`: why tfjs-tensorflow did not load), for the worker's log. */
  reason: string;
}

/** Checks a backend name. */
export function parseBackendName(name: unknown): BackendName {
  if (typeof name === 'string' && BACKEND_ALIASES[name]) return renamed(name, BACKEND_ALIASES[name]);
  if (typeof name !== 'string' || !(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new KernelInputError('backend', `must be one of ${BACKEND_NAMES.join(', ')}, got ${show(name)}`);
  }
  return name as BackendName;
}

/**
 * Makes a backend by name. A concrete backend that cannot load throws {@link BackendUnavailableError}
 * (saying what to install). `auto` takes a GPU backend only on a hardware GPU: webgpu on a
 * discrete or integrated adapter (never on lavapipe, llvmpipe or SwiftShader), else tfjs-tensorflow
 * on tfjs-node-gpu, else `fused`; `reason` says which adapter it found or why it passed each over.
 */
export async function createBackend(name: BackendName = 'auto'): Promise<CreatedBackend> {
  switch (parseBackendName(name)) {
    case 'fused':
    case 'fused-js': {
      const backend = new FusedBackend(name === 'fused' ? 'wasm' : 'js');
      return { backend, reason: `requested ${name}` };
    }
    case 'tfjs-cpu':
      return { backend: new TfjsBackend('tfjs-cpu', await loadTfjs('cpu')), reason: 'requested tfjs-cpu' };
    case 'tfjs-wasm':
      return { backend: new TfjsBackend('tfjs-wasm', await loadTfjs('wasm')), reason: 'requested tfjs-wasm' };
    case 'webgpu': {
      const backend = await WebGpuBackend.open();
      return {
        backend,
        reason: `requested webgpu${backend.adapter.kind === 'cpu' ? ' (on a CPU adapter: slower than fused; auto would not take it)' : ''}`,
      };
    }
    case 'tfjs-tensorflow':
      return {
        backend: new TfjsBackend('tfjs-tensorflow', await loadTfjs('tensorflow')),
        reason: 'requested tfjs-tensorflow',
      };
    case 'auto':
      return chooseAuto();
  }
}

async function chooseAuto(): Promise<CreatedBackend> {
  const passed: string[] = [];
  // A hardware WebGPU adapter first.
  try {
    const backend = await WebGpuBackend.open();
    if (backend.adapter.kind === 'hardware')
      return { backend, reason: `auto: webgpu on ${describeAdapter(backend.adapter)}` };
    await backend.dispose();
    passed.push(
      `webgpu: passed over ${describeAdapter(backend.adapter)} (a CPU Vulkan driver is slower than fused)`,
    );
  } catch (err) {
    passed.push(`webgpu: ${err instanceof BackendUnavailableError ? err.message : String(err)}`);
  }
  try {
    const loaded = await loadTfjs('tensorflow');
    if (loaded.detail.endsWith('(GPU)'))
      return { backend: new TfjsBackend('tfjs-tensorflow', loaded), reason: `auto: ${loaded.detail}` };
    passed.push(`tfjs-tensorflow: ${loaded.detail} runs on the CPU (slower than fused)`);
  } catch (err) {
    passed.push(`tfjs-tensorflow: ${err instanceof BackendUnavailableError ? err.message : String(err)}`);
  }
  return { backend: new FusedBackend('wasm'), reason: `auto: fused, because ${passed.join('; ')}` };
}
