import {
  BACKEND_ALIASES,
  BACKEND_NAMES,
  type BackendName,
  createBackend,
  type CreatedBackend,
} from '@cnsn/kernels';
import { Option } from 'commander';
import { CliError } from './cli-error.js';

export function backendOption(defaultName: BackendName, description = 'kernel backend'): Option {
  return new Option('--backend <name>', description)
    .choices([...BACKEND_NAMES, ...Object.keys(BACKEND_ALIASES)])
    .default(defaultName);
}

/** Creates a backend, turning "cannot load" into a clear command error. */
export async function openBackend(name: BackendName): Promise<CreatedBackend> {
  try {
    return await createBackend(name);
  } catch (err) {
    throw new CliError((err as Error).message, 1);
  }
}
