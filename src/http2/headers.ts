// Header conversions shared by the HTTP/2 downstream and upstream adapters.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { errorResponseHeaders, type ProxyError } from '../errors.ts';
import type { HeaderList } from '../proxy/types.ts';

/**
 * Connection-specific headers that HTTP/2 forbids (RFC 9113 §8.2.2) plus Host, which HTTP/2
 * carries as :authority. node:http2 throws on most of them, so they never cross the proxy.
 * `te` is handled apart: only `te: trailers` may pass.
 */
export function isConnectionHeader(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'http2-settings':
    case 'host':
      return true;
    default:
      return false;
  }
}

/**
 * Appends the end-to-end headers of `list` to `out` (a raw node:http2 header array). Drops
 * pseudo-headers, connection-specific headers and any `te` other than `trailers`.
 */
export function appendEndToEnd(out: string[], list: HeaderList): string[] {
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 58 /* ':' */ || isConnectionHeader(name)) continue;
    const value = list[i + 1]!;
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    out.push(name, value);
  }
  return out;
}

/** A HeaderList as a node:http2 headers object (trailers and 1xx heads need objects). */
export function listToObject(list: HeaderList): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = Object.create(null) as OutgoingHttpHeaders;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 58 || isConnectionHeader(name) || name === 'te') continue;
    const value = list[i + 1]!;
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }
  return out;
}

/** Raw node:http2 header array (name, value, ...) minus pseudo and connection headers. */
export function rawToList(raw: readonly string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 || isConnectionHeader(name)) continue;
    const value = raw[i + 1]!;
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    out.push(name, value);
  }
  return out;
}

/** A node:http2 headers object (as given with 'trailers' events) as a HeaderList. */
export function objectToList(headers: IncomingHttpHeaders): HeaderList {
  const out: HeaderList = [];
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 || isConnectionHeader(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  return out;
}

/** gRPC status for a proxy-generated HTTP status (grpc/doc/http-grpc-status-mapping.md). */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
    case 501:
      return 12; // UNIMPLEMENTED
    case 408:
    case 504:
      return 4; // DEADLINE_EXCEEDED
    case 413:
    case 431:
      return 8; // RESOURCE_EXHAUSTED
    case 429:
    case 502:
    case 503:
      return 14; // UNAVAILABLE
    default:
      return 13; // INTERNAL
  }
}

/** grpc-message is percent-encoded: printable ASCII except '%' passes, the rest as UTF-8 %XX. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function errorStatus(err: ProxyError): number {
  const s = err.status;
  return typeof s === 'number' && s >= 200 && s <= 599 ? s : 500;
}

function errorCode(err: ProxyError): string {
  return typeof err.code === 'string' ? err.code : 'TRELLIS_INTERNAL';
}

/** Trailers-only gRPC answer (HTTP 200, status in the head) for a proxy error. */
export function grpcErrorHead(err: ProxyError): string[] {
  return [
    ':status',
    '200',
    'content-type',
    'application/grpc',
    'grpc-status',
    String(grpcStatusForHttp(errorStatus(err))),
    'grpc-message',
    encodeGrpcMessage(err.message),
    'x-trellis-error',
    errorCode(err),
    ...errorResponseHeaders(err),
  ];
}

/** Plain HTTP answer head for a proxy error with a text body of `bodyLength` bytes. */
export function httpErrorHead(err: ProxyError, bodyLength: number): string[] {
  return [
    ':status',
    String(errorStatus(err)),
    'content-type',
    'text/plain; charset=utf-8',
    'x-trellis-error',
    errorCode(err),
    'content-length',
    String(bodyLength),
    ...errorResponseHeaders(err),
  ];
}
