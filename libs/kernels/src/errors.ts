/**
 * Bad input: the tensor, plan or parameters cannot be augmented as given. Retrying the same
 * request can never succeed, so callers (the worker) fail the batch instead of retrying it.
 */
export class KernelInputError extends Error {
  override readonly name = 'KernelInputError';
  /** The field at fault, e.g. `plan.insIdxs` or `input.shape`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** A backend that cannot run on this node (a package is missing or broken); `hint` says what to install. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
  readonly backend: string;
  readonly hint: string;
  constructor(backend: string, reason: string, hint: string, options?: { cause?: unknown }) {
    super(`backend ${backend} is unavailable: ${reason}. ${hint}`, options);
    this.backend = backend;
    this.hint = hint;
  }
}

/** Formats a value for an error message without dumping a whole array. */
export function show(value: unknown): string {
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (Array.isArray(value)) {
    const head = value.slice(0, 8).map((v) => show(v));
    return `[${head.join(', ')}${value.length > 8 ? `, ... (${value.length} items)` : ''}]`;
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
