/**
 * What the direct plane's routes say about one request, whatever carries it (the zero-copy HTTP/1.1
 * server for plain HTTP, node:https for TLS): answer it now, or receive its body first.
 */

/** A request's head: method, path and headers (names lower-case). */
export interface RequestHead {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
}

/** An answer. `body` parts are sent without being joined; `close` ends the connection after it. */
export interface Answer {
  status: number;
  headers?: Record<string, string | number>;
  body?: Uint8Array[] | string;
  close?: boolean;
}

/** Receive a body of exactly `into.length` bytes first, then answer. */
export interface Receive {
  into: Uint8Array;
  /** The whole body is in `into`. */
  complete(): Answer;
  /** It did not arrive whole (the client went away, stalled or sent too much): nothing is kept. */
  abandon(why: string): void;
}

export type Decision = { answer: Answer } | { receive: Receive };

/** The routes: one decision per request head. */
export type Router = (head: RequestHead) => Decision;

const REASONS: Record<number, string> = {
  200: 'OK',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  413: 'Content Too Large',
  422: 'Unprocessable Content',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
};

export function reasonOf(status: number): string {
  return REASONS[status] ?? 'Status';
}

/** A text answer with its length. */
export function text(status: number, body: string, close = false): Answer {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body, close };
}
