import { hostname } from 'node:os';

/** A `HOST:PORT` the direct plane listens on or advertises. */
export interface Endpoint {
  host: string;
  port: number;
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6); the error names the flag and the value. */
export function parseEndpoint(text: string, flag: string): Endpoint {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535)
    throw new Error(`${flag}: expected HOST:PORT (port 0 for a free one), got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2]) as string, port };
}

/** True for an address that names no one host (listen on all interfaces). */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '';
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * What workers are told (docs/cli.md): `--advertise` when given, else the listen address when it names a
 * host, else this machine's host name; a port of 0 means the port actually bound.
 */
export function resolveAdvertised(
  listen: Endpoint,
  advertise: string | undefined,
  boundPort: number,
): Endpoint {
  const given = advertise ? parseEndpoint(advertise, '--advertise') : null;
  const host = given?.host ?? (isWildcard(listen.host) ? hostname() : listen.host);
  const port = given && given.port !== 0 ? given.port : boundPort;
  return { host, port };
}
