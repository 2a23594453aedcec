import { RedisConnectionError } from '../errors.js';

/**
 * What a Redis error means, decided once from what the server and Node give as codes (never from a
 * message's wording): the error code a Redis error reply starts with (`WRONGPASS ...`, `OOM ...`,
 * `MOVED 3999 host:port`), Node's TLS error codes (`err.code`), and this project's own classes.
 */

/** Replies that retrying cannot fix: authentication and ACL permissions. */
const REFUSED_REPLY_CODES = new Set(['WRONGPASS', 'NOAUTH', 'NOPERM']);
/** Node's TLS trust failures. */
const TLS_TRUST_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);
/** Replies of a cluster in transition: wait and ask again. */
const RETRY_LATER_CODES = new Set(['CLUSTERDOWN', 'TRYAGAIN', 'LOADING', 'MASTERDOWN']);

/** The error code of a Redis error reply (its first word, upper case), or null for any other error. */
export function replyCode(err: unknown): string | null {
  const name = (err as { name?: string })?.name;
  if (name !== 'ReplyError' && name !== 'RespError') return null;
  return /^([A-Z]+)\b/.exec((err as Error).message)?.[1] ?? null;
}

/**
 * True when the server refused us for good (authentication, permissions, TLS trust), at any depth
 * of `cause`: a connection error that wraps one carries it.
 */
export function isRefusedForGood(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof RedisConnectionError) return true;
    const reply = replyCode(e);
    if (reply && REFUSED_REPLY_CODES.has(reply)) return true;
    const code = String((e as { code?: unknown }).code);
    if (TLS_TRUST_CODES.has(code) || /^ERR_(SSL|TLS)_/.test(code)) return true;
  }
  return false;
}

/** Redis is at maxmemory with noeviction: a write waits for memory. */
export function isOutOfMemory(err: unknown): boolean {
  return replyCode(err) === 'OOM';
}

/** A cluster redirection: the slot and the node that serves it (MOVED), or serves it now (ASK). */
export function redirection(err: unknown): { kind: 'MOVED' | 'ASK'; slot: number; to: string } | null {
  const code = replyCode(err);
  if (code !== 'MOVED' && code !== 'ASK') return null;
  const [, slot, to] = (err as Error).message.split(' ');
  return slot && to ? { kind: code, slot: Number(slot), to } : null;
}

/** A cluster in transition (failover, resharding, loading): the command may succeed later. */
export function isRetryLater(err: unknown): boolean {
  const code = replyCode(err);
  return code !== null && RETRY_LATER_CODES.has(code);
}
