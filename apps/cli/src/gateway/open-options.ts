import type { OpenRunOptions } from '@cnsn/pipeline';
import { RUN_OPTIONS } from '@cnsn/protocol';
import { CliError } from '../cli-error.js';

/** Options of `open_run` that only the gateway reads (not run options of RUN_OPTIONS). */
const GATEWAY_KEYS = new Set(['preview_every']);

const byPython = new Map(RUN_OPTIONS.map((o) => [o.python, o]));

/**
 * The Python client's `open_run` keywords (docs/python.md, RUN_OPTIONS' `python` names) as `openRun`'s
 * options. `crossnorm` is a dict of its own options' Python names; `selfnorm` passes as it is (the
 * golden manifest's form). An unknown name is refused with the names there are.
 */
export function openOptionsFrom(given: Record<string, unknown>): OpenRunOptions {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(given)) {
    if (GATEWAY_KEYS.has(name) || value === undefined) continue;
    if (name === 'crossnorm') {
      out.crossnorm = crossNormFrom(value);
      continue;
    }
    const option = byPython.get(name);
    if (!option || option.group === 'crossnorm') throw unknown('open_run', name, topLevelNames());
    if (value === null && option.key !== 'selfnorm') continue; // None: the default
    out[option.key] = value;
  }
  return out as OpenRunOptions;
}

function crossNormFrom(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new CliError(
      `open_run: crossnorm must be a dict of CrossNorm options, got ${JSON.stringify(value)}`,
    );
  const out: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(value)) {
    const option = byPython.get(name);
    if (!option || option.group !== 'crossnorm') throw unknown('crossnorm', name, crossNormNames());
    if (v !== null || option.key === 'lam') out[option.key] = v;
  }
  return out;
}

function topLevelNames(): string[] {
  return [...RUN_OPTIONS.filter((o) => o.group !== 'crossnorm').map((o) => o.python), 'crossnorm'];
}

function crossNormNames(): string[] {
  return RUN_OPTIONS.filter((o) => o.group === 'crossnorm').map((o) => o.python);
}

function unknown(where: string, name: string, known: string[]): CliError {
  return new CliError(
    `${where}: unknown option ${JSON.stringify(name)}; the options are ${known.join(', ')}`,
  );
}
