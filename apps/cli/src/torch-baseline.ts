import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Shape4 } from '@cnsn/kernels';

/** The paper's code timed by ../shared/reference/bench_torch.py (Debian's python3-torch). */
export const DEFAULT_TORCH_BENCH = fileURLToPath(
  new URL('../../../../shared/reference/bench_torch.py', import.meta.url),
);

export interface TorchBaseline {
  script: string;
  threads: number;
  msPerBatch: number;
  line: string;
}

/** Runs the reference benchmark (crop both + chan + SelfNorm) and parses its ms per batch. */
export async function runTorchBaseline(
  shape: Shape4,
  threads: number,
  script = DEFAULT_TORCH_BENCH,
): Promise<TorchBaseline> {
  if (!existsSync(script)) throw new Error(`${script} not found (pass --baseline-torch PATH)`);
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'; // Debian's python3 carries python3-torch
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(python, [script, shape.join(','), String(threads)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
  const line = output.split('\n').find((l) => l.includes('crop=both'));
  const ms = line ? Number(/: ([\d.]+) ms\/batch/.exec(line)?.[1]) : Number.NaN;
  if (!line || !Number.isFinite(ms)) throw new Error(`could not parse ${script} output: ${output.trim()}`);
  return { script, threads, msPerBatch: ms, line: line.trim() };
}
