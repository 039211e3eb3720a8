// What a parsed HTTP/1 request head means for the proxy: where it goes (authority, path), how its
// body is framed, and which headers travel on. Refusals are ProxyErrors the connection answers with.
import {
  BadRequestError,
  HttpVersionNotSupportedError,
  UnsupportedTransferCodingError,
  type ProxyError,
} from '../errors.ts';
import type { HeaderList } from '../proxy/types.ts';
import { connectionTokens, isValidAuthority, withoutHopByHop } from './headers.ts';

/**
 * The proxy re-frames request bodies itself, so the only transfer coding it can forward is plain
 * `chunked`: another coding before it would be silently dropped (501, RFC 9112 §6.1), and a last
 * coding other than chunked leaves no way to find the end of the body (400).
 */
function transferCodingProblem(value: string): ProxyError | undefined {
  const codings = value.toLowerCase().split(',');
  const last = codings[codings.length - 1]!.trim();
  if (last !== 'chunked') return BadRequestError('Transfer-Encoding must end with chunked');
  for (let i = 0; i < codings.length - 1; i++) {
    if (codings[i]!.trim() !== '') {
      return UnsupportedTransferCodingError(value);
    }
  }
  return undefined;
}

export interface RequestHead {
  authority: string;
  path: string;
  /** End-to-end headers (see ProxyRequest.headers); for upgrades, plus the handshake's Connection/Upgrade. */
  headers: HeaderList;
  bodyLength: number;
  expectContinue: boolean;
  grpc: boolean;
}

/**
 * Interprets a request head llhttp accepted. `target` is the request target as sent; `upgrading`
 * is true for CONNECT and Upgrade requests, whose handshake headers are kept for the tunnel.
 */
export function interpretRequestHead(
  raw: HeaderList,
  method: string,
  target: string,
  versionMajor: number,
  upgrading: boolean,
  /** Used when the request has no Host (see Http1ServeContext.defaultAuthority). */
  defaultAuthority = '',
): RequestHead | ProxyError {
  if (versionMajor !== 1) return HttpVersionNotSupportedError();
  let host: string | undefined;
  let hosts = 0;
  let connection: readonly string[] | null = null;
  let contentLength = -2;
  let transferEncoding: string | undefined;
  let expect = false;
  let grpc = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name === 'host') {
      host ??= value;
      hosts++;
    } else if (name === 'connection') connection = connectionTokens(value);
    else if (name === 'content-length') contentLength = Number(value);
    else if (name === 'transfer-encoding')
      transferEncoding = transferEncoding === undefined ? value : transferEncoding + ',' + value;
    else if (name === 'expect') expect = value.toLowerCase() === '100-continue';
    else if (name === 'content-type') grpc = value.startsWith('application/grpc');
  }
  // RFC 9112 §3.2: more than one Host is a 400 (the proxy and the upstream could disagree).
  if (hosts > 1) return BadRequestError('more than one Host header');
  // llhttp rejects a bad final coding only after the head: refuse before dispatching.
  const teProblem = transferEncoding === undefined ? undefined : transferCodingProblem(transferEncoding);
  if (teProblem !== undefined) return teProblem;
  let authority = host ?? defaultAuthority;
  let path = target;
  if (method === 'CONNECT') {
    authority = path;
  } else if (path.charCodeAt(0) !== 47 /* '/' */ && path !== '*') {
    // absolute-form (HTTP_PROXY clients): the target's authority wins over Host (RFC 9112 §3.2.2)
    const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(path);
    if (m === null) return BadRequestError('unsupported request target');
    authority = m[1]!;
    path = m[2] === '' ? '/' : m[2]!.charCodeAt(0) === 63 /* '?' */ ? '/' + m[2] : m[2]!;
  }
  if (authority === '') return BadRequestError('missing Host header');
  if (!isValidAuthority(authority)) return BadRequestError('invalid Host');
  const headers = withoutHopByHop(raw, connection, 'content-length');
  if (upgrading) {
    for (let i = 0; i < raw.length; i += 2) {
      // keep the handshake headers the tunnel replays upstream
      if (raw[i] === 'upgrade') headers.push('connection', 'upgrade', 'upgrade', raw[i + 1]!);
    }
  }
  return {
    authority,
    path,
    headers,
    bodyLength: transferEncoding !== undefined ? -1 : contentLength >= 0 ? contentLength : 0,
    expectContinue: expect,
    grpc,
  };
}
