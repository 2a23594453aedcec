import { RUN_OPTIONS } from '@cnsn/protocol';
import { checkRunFlags, type RunFlags } from '../commands/run.js';

/**
 * What `python3 -m cnsn run` (or `bench pipeline`) was asked, checked by the run command's own
 * flags and rules and said in the Python client's terms: where the batches come from, what to do
 * with the results, and `open`, the keywords of `open_run`. Null when no batches were given (the
 * gateway serves the API only).
 */
export async function describeRun(
  flags: RunFlags,
  /** The client runs these flags' batches: without any, say how to give them. */
  required: boolean,
): Promise<Record<string, unknown> | null> {
  if (!required && !flags.synthetic && !flags.input) return null;
  const { crossnorm, selfnorm } = await checkRunFlags(flags);
  const open: Record<string, unknown> = {};
  for (const o of RUN_OPTIONS) {
    const value = o.group === 'crossnorm' ? undefined : (flags as unknown as Record<string, unknown>)[o.key];
    if (o.key !== 'selfnorm' && value !== undefined) open[o.python] = value;
  }
  open.crossnorm = Object.fromEntries(
    RUN_OPTIONS.filter((o) => o.group === 'crossnorm').map((o) => [
      o.python,
      (crossnorm as unknown as Record<string, unknown>)[o.key],
    ]),
  );
  open.selfnorm = selfnorm;
  if (flags.previewEvery) open.preview_every = flags.previewEvery;
  return {
    source: flags.input
      ? { kind: 'npy', files: flags.input }
      : { kind: 'synthetic', shape: flags.shape, batches: flags.batches, seed: flags.seed },
    out: flags.out ?? null,
    json: flags.json ?? false,
    progress: flags.progress !== false,
    selfnorm_update_every: flags.selfnormUpdateEvery ?? null,
    open,
  };
}
