import { RunFinishedError } from '@cnsn/pipeline';

/**
 * An error as the Python client raises it again: its class name (`cnsn.errors` has one class per
 * name the gateway sends, else `CnsnError`), its one-line message, and the fields its class carries.
 */
export function errorFrame(err: unknown): Record<string, unknown> {
  const e = err instanceof Error ? err : new Error(String(err));
  const fields: Record<string, unknown> = {};
  for (const name of ['run', 'seq', 'reason'] as const) {
    const value = (e as unknown as Record<string, unknown>)[name];
    if (value !== undefined) fields[name] = value;
  }
  if (e instanceof RunFinishedError) Object.assign(fields, { finished: e.finished, resume: e.resume });
  const message = (e.message.split('\n')[0] ?? '').trim() || e.name;
  return { error: { type: e.name === 'Error' ? 'CnsnError' : e.name, message, ...fields } };
}
