import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { type Answer, type RequestHead, type Router } from './http-exchange.js';

/**
 * The direct plane's routes on a node:http(s) server (the TLS endpoint): the same decisions as the
 * zero-copy server, a body copied chunk by chunk into the buffer its route gives, and the same
 * stall and length checks.
 */
export function serveWithNodeHttp(
  server: Server | HttpsServer,
  o: {
    route: Router;
    stallTimeoutMs: number;
    onStall?: (head: RequestHead, received: number, length: number) => void;
  },
): void {
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 0; // large bodies take long; stalls are caught per chunk instead
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const head: RequestHead = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
      ),
    };
    if (head.headers['transfer-encoding'])
      return send(res, {
        status: 411,
        body: 'a body needs a content-length (no transfer-encoding)',
        close: true,
      });
    const decision = o.route(head);
    if ('answer' in decision) return send(res, decision.answer, head.method === 'HEAD');
    const { into, complete, abandon } = decision.receive;
    let at = 0;
    let done = false;
    const finish = (answer: Answer | null, why = ''): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (answer) send(res, answer);
      else abandon(why);
    };
    const stalled = (): void => {
      o.onStall?.(head, at, into.length);
      finish(null, 'the body stalled');
      if (!res.headersSent) send(res, { status: 408, body: 'the body stalled', close: true });
      req.destroy();
    };
    let timer = setTimeout(stalled, o.stallTimeoutMs);
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      if (at + chunk.length > into.length) {
        finish(null, 'longer than its content-length');
        send(res, { status: 400, body: 'the body is longer than its content-length', close: true });
        req.destroy();
        return;
      }
      into.set(chunk, at);
      at += chunk.length;
      clearTimeout(timer);
      timer = setTimeout(stalled, o.stallTimeoutMs);
    });
    req.on('end', () => (at === into.length ? finish(complete()) : finish(null, 'truncated')));
    req.on('close', () => finish(null, 'the client went away mid-body'));
  });
}

function send(res: ServerResponse, answer: Answer, headOnly = false): void {
  if (res.headersSent || res.destroyed) return;
  const body = typeof answer.body === 'string' ? [Buffer.from(answer.body)] : (answer.body ?? []);
  const headers: Record<string, string | number> = { ...answer.headers };
  if (answer.status !== 204) headers['content-length'] = body.reduce((n, p) => n + p.byteLength, 0);
  if (answer.close) headers.connection = 'close';
  res.writeHead(answer.status, headers);
  if (headOnly) return void res.end();
  res.socket?.cork();
  for (const part of body) res.write(part);
  res.end();
  res.socket?.uncork();
}
