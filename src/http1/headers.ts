// Header handling shared by both directions of HTTP/1.
import type { HeaderList } from '../proxy/types.ts';

/**
 * Connection-specific headers (RFC 9110 §7.6.1) that a proxy must not forward, plus the ones it
 * rewrites itself (host, expect). content-length is end-to-end and handled by each side's framing.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
  'http2-settings',
]);

// The usual Connection values, answered without splitting (every keep-alive response has one).
const KEEP_ALIVE: readonly string[] = Object.freeze(['keep-alive']);
const CLOSE: readonly string[] = Object.freeze(['close']);

/** Names listed in a Connection header are hop-by-hop too; returns them lower-cased. */
export function connectionTokens(value: string): readonly string[] {
  if (value === 'keep-alive' || value === 'Keep-Alive') return KEEP_ALIVE;
  if (value === 'close' || value === 'Close') return CLOSE;
  return value
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t.length > 0);
}

/** Tokens of the (last) Connection header of a raw list, or null when it has none. */
export function connectionHeaderTokens(raw: HeaderList): readonly string[] | null {
  let tokens: readonly string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === 'connection') tokens = connectionTokens(raw[i + 1]!);
  return tokens;
}

/**
 * A copy without hop-by-hop headers, without those the Connection header names (`connection`:
 * its tokens), and without `drop` when given (the request side drops content-length: bodyLength
 * carries it).
 */
export function withoutHopByHop(
  raw: HeaderList,
  connection: readonly string[] | null,
  drop?: string,
): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (HOP_BY_HOP.has(name) || name === drop) continue;
    if (connection !== null && connection.includes(name)) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

/** Appends `name: value\r\n` lines for a HeaderList. */
export function serializeHeaders(headers: HeaderList): string {
  let s = '';
  for (let i = 0; i < headers.length; i += 2) s += headers[i] + ': ' + headers[i + 1] + '\r\n';
  return s;
}

/** Bytes of `first` + the `name: value\r\n` lines + `last`, written as latin1 (a byte per char). */
export function headLength(first: string, headers: HeaderList, last: string): number {
  let n = first.length + last.length;
  for (let i = 0; i < headers.length; i++) n += headers[i]!.length + 2; // ": " or "\r\n"
  return n;
}

/**
 * Writes `first`, the header lines and `last` into `out` at `at` (headLength bytes) and returns
 * the offset after them: a head built in place, without the string concatenations of
 * serializeHeaders and the flattening copy a write of their result makes.
 */
export function writeHead(out: Buffer, at: number, first: string, headers: HeaderList, last: string): number {
  at += out.latin1Write(first, at);
  for (let i = 0; i < headers.length; i += 2) {
    at += out.latin1Write(headers[i]!, at);
    out[at++] = 0x3a; // ':'
    out[at++] = 0x20;
    at += out.latin1Write(headers[i + 1]!, at);
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  return at + out.latin1Write(last, at);
}

const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Status';
}

/** Status line cache: the first line of common responses is built once. */
const STATUS_LINES = new Map<number, string>();
export function statusLine(status: number): string {
  let line = STATUS_LINES.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`;
    if (STATUS_LINES.size < 1000) STATUS_LINES.set(status, line);
  }
  return line;
}

/** Chunk-size line for chunked transfer coding. */
export function chunkHeader(length: number): string {
  return length.toString(16) + '\r\n';
}

/** Header values must not carry CR, LF or NUL (response splitting); names must be tokens. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export function isValidHeader(name: string, value: string): boolean {
  return TOKEN.test(name) && !/[\r\n\0]/.test(value);
}

/** Characters of uri-host [":" port] (RFC 3986 reg-name, IP literals, port); a lookup table, built once. */
const AUTHORITY_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]") {
  AUTHORITY_CHARS[c.charCodeAt(0)] = 1;
}

/** Host / absolute-form authority: no spaces, no userinfo ('@'), no bytes outside the grammar. */
export function isValidAuthority(authority: string): boolean {
  for (let i = 0; i < authority.length; i++) {
    const c = authority.charCodeAt(i);
    if (c >= 128 || AUTHORITY_CHARS[c] === 0) return false;
  }
  return true;
}
