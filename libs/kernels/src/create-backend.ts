import { BACKEND_NAMES, type BackendName, type KernelBackend } from './backend.js';
import { BackendUnavailableError, KernelInputError, show } from './errors.js';
import { FusedBackend } from './fused-backend.js';
import { TfjsBackend } from './tfjs-backend.js';
import { loadTfjs } from './tfjs-loader.js';

export interface CreatedBackend {
  backend: KernelBackend;
  /** Why this backend was chosen (for `auto`: why tfjs-tensorflow did not load), for the worker's log. */
  reason: string;
}

/** Checks a backend name. */
export function parseBackendName(name: unknown): BackendName {
  if (typeof name !== 'string' || !(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new KernelInputError('backend', `must be one of ${BACKEND_NAMES.join(', ')}, got ${show(name)}`);
  }
  return name as BackendName;
}

/**
 * Makes a backend by name. A concrete backend that cannot load throws {@link BackendUnavailableError}
 * (saying what to install); `auto` falls back to `fused` and says why in `reason`.
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
    case 'tfjs-tensorflow':
      return {
        backend: new TfjsBackend('tfjs-tensorflow', await loadTfjs('tensorflow')),
        reason: 'requested tfjs-tensorflow',
      };
    case 'auto': {
      try {
        const backend = new TfjsBackend('tfjs-tensorflow', await loadTfjs('tensorflow'));
        return { backend, reason: 'auto: tfjs-tensorflow loaded' };
      } catch (err) {
        const why = err instanceof BackendUnavailableError ? err.message : String(err);
        return { backend: new FusedBackend('wasm'), reason: `auto: fell back to fused because ${why}` };
      }
    }
  }
}
