import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Shape4 } from '@cnsn/kernels';

/**
 * The baselines: the repository's PyTorch reference of the paper's code (tools/reference, held to
 * the golden cases the paper's code computed), timed by its scripts under Debian's python3-torch.
 */
const REFERENCE_DIR = new URL('../../../tools/reference/', import.meta.url);
export const DEFAULT_TORCH_BENCH = fileURLToPath(new URL('bench_torch.py', REFERENCE_DIR));
export const DEFAULT_DATALOADER_BENCH = fileURLToPath(new URL('bench_dataloader.py', REFERENCE_DIR));

/** Runs a reference script with Debian's python3 (which carries python3-torch); resolves with its stdout. */
export function runReferenceScript(script: string, args: string[]): Promise<string> {
  if (!existsSync(script)) return Promise.reject(new Error(`${script} not found`));
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${python} ${script} exited ${code}: ${err.trim().split('\n').pop() ?? ''}`)),
    );
  });
}

export interface TorchBaseline {
  script: string;
  threads: number;
  msPerBatch: number;
  line: string;
}

/** bench_torch.py (crop both + chan + SelfNorm), parsed to its ms per batch. */
export async function runTorchBaseline(
  shape: Shape4,
  threads: number,
  script = DEFAULT_TORCH_BENCH,
): Promise<TorchBaseline> {
  const output = await runReferenceScript(script, [shape.join(','), String(threads)]);
  const line = output.split('\n').find((l) => l.includes('crop=both'));
  const ms = line ? Number(/: ([\d.]+) ms\/batch/.exec(line)?.[1]) : Number.NaN;
  if (!line || !Number.isFinite(ms)) throw new Error(`could not parse ${script} output: ${output.trim()}`);
  return { script, threads, msPerBatch: ms, line: line.trim() };
}
