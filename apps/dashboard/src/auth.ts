import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export const TOKEN_COOKIE = 'cnsn_token';

/** True for hosts only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token a request carries: `Authorization: Bearer TOKEN`, or the login cookie. */
export function tokenOf(req: Request): string | null {
  const header = req.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  const cookies = req.headers.cookie ?? '';
  for (const part of cookies.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) return decodeURIComponent(v.join('='));
  }
  return null;
}

/**
 * Every request needs the token when one is configured (always, off loopback). Pages answer an
 * unauthenticated browser with the login form; the API and /metrics with 401.
 */
export function requireToken(token: string | null, loginPage: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (token === null || req.path === '/login') return next();
    const given = tokenOf(req);
    if (given !== null && same(given, token)) return next();
    const wantsHtml =
      req.method === 'GET' &&
      (req.headers.accept ?? '').includes('text/html') &&
      !req.path.startsWith('/api') &&
      req.path !== '/metrics';
    if (wantsHtml) {
      res.status(401).type('html').send(loginPage);
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer')
      .json({ error: given === null ? 'token required (Authorization: Bearer TOKEN)' : 'wrong token' });
  };
}
