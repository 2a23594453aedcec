import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every level: the same value always gives the same text. Written
 * out by hand (no replacer, which runs per array element): a trainer that updates SelfNorm every
 * batch hashes its parameters every batch.
 */
export function canonicalJson(value: unknown): string {
  // No object anywhere inside (numbers, arrays of arrays of numbers): no key to sort.
  if (Array.isArray(value))
    return keyless(value)
      ? JSON.stringify(value)
      : `[${value.map((v) => (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v))).join(',')}]`;
  if (value && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function') {
    // Through an object again, as JSON.stringify would see one: integer-like keys come first.
    const sorted = Object.fromEntries(
      Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    );
    const entries = Object.entries(sorted).filter(([, v]) => v !== undefined && typeof v !== 'function');
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function keyless(v: unknown): boolean {
  return Array.isArray(v) ? v.every(keyless) : v === null || typeof v !== 'object';
}

/** Content address of a JSON value (SelfNorm parameters are stored once under it). */
export function contentHash(value: unknown): { hash: string; json: string } {
  const json = canonicalJson(value);
  return { hash: createHash('sha256').update(json).digest('hex'), json };
}
