import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** Content address of a JSON value (SelfNorm parameters are stored once under it). */
export function contentHash(value: unknown): { hash: string; json: string } {
  const json = canonicalJson(value);
  return { hash: createHash('sha256').update(json).digest('hex'), json };
}
