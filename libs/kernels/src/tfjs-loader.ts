import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BackendUnavailableError } from './errors.js';

export type Tf = typeof import('@tensorflow/tfjs-core');
export type TfjsFlavour = 'cpu' | 'wasm' | 'tensorflow';

export interface LoadedTfjs {
  tf: Tf;
  /** The tfjs backend name registered with tfjs-core (`cpu`, `wasm` or `tensorflow`). */
  tfBackend: string;
  /** e.g. "@tensorflow/tfjs-node-gpu 4.22.0 (GPU)". */
  detail: string;
}

const require = createRequire(import.meta.url);

/**
 * Loads tfjs-core and one tfjs backend at run time. tfjs-node(-gpu) is an optional package (its
 * install downloads libtensorflow), so failures are expected: the error says why and what to install.
 */
export async function loadTfjs(flavour: TfjsFlavour): Promise<LoadedTfjs> {
  const tf = await import('@tensorflow/tfjs-core');
  // tfjs prints a "use tfjs-node" banner and prod-mode hints; workers log their backend themselves.
  tf.env().set('PROD', true);
  if (flavour === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    await activate(tf, 'cpu', 'tfjs-cpu');
    return { tf, tfBackend: 'cpu', detail: `@tensorflow/tfjs-backend-cpu ${tf.version_core}` };
  }
  if (flavour === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '..', 'wasm-out');
    wasm.setWasmPaths(`${dir}/`);
    await activate(tf, 'wasm', 'tfjs-wasm');
    return { tf, tfBackend: 'wasm', detail: `@tensorflow/tfjs-backend-wasm ${tf.version_core}` };
  }
  const reasons: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
    } catch (err) {
      reasons.push(`${pkg}: ${firstLine(err)}`);
      continue;
    }
    if (!tf.findBackend('tensorflow')) {
      reasons.push(`${pkg} loaded but registered with another @tensorflow/tfjs-core than ${tf.version_core}`);
      continue;
    }
    await activate(tf, 'tensorflow', 'tfjs-tensorflow');
    const gpu = pkg.endsWith('-gpu');
    return { tf, tfBackend: 'tensorflow', detail: `${pkg} ${tf.version_core} (${gpu ? 'GPU' : 'CPU'})` };
  }
  throw new BackendUnavailableError(
    'tfjs-tensorflow',
    reasons.join('; '),
    `On a GPU node install @tensorflow/tfjs-node-gpu@${tf.version_core} (needs CUDA 11.2 and cuDNN 8.1; its install downloads libtensorflow), on a CPU node @tensorflow/tfjs-node@${tf.version_core}; or use --backend fused`,
  );
}

async function activate(tf: Tf, tfBackend: string, name: string): Promise<void> {
  let ok = false;
  try {
    ok = await tf.setBackend(tfBackend);
  } catch (err) {
    throw new BackendUnavailableError(name, firstLine(err), 'check the installation of the tfjs packages', {
      cause: err,
    });
  }
  if (!ok)
    throw new BackendUnavailableError(
      name,
      `tfjs could not initialise backend "${tfBackend}"`,
      'check the installation of the tfjs packages',
    );
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}
