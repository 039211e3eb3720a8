// Serves HTTP/2 clients (h2c prior knowledge, or h2 negotiated by ALPN) on an accepted socket:
// each stream becomes a ProxyRequest handed to the listener's Dispatch.
import { connectionSource, type ConnectionSource } from '../tls/peer-identity.ts';
import http2 from 'node:http2';
import type { ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type net from 'node:net';
import type tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Dispatch, HeaderList, ProxyRequest } from '../proxy/types.ts';
import { ConnectMethodUnsupportedError, InternalProxyError } from '../errors.ts';
import { isConnectionHeader } from './headers.ts';
import { ServerExchange, type ExchangeHooks } from './server-exchange.ts';

export type Http2ServerSession = ServerHttp2Session;

export interface Http2ServeOptions {
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised to the client. Default 1000. */
  maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE in bytes. Default 64 KiB. */
  maxHeaderListSize?: number;
  /** Per-stream receive window in bytes. Default 1 MiB. */
  initialWindowSize?: number;
  /** No frames for this long: GOAWAY and close once the open streams end. Default 5 min; 0 disables. */
  idleTimeoutMs?: number;
  /** Rapid-reset guard: client stream resets allowed in a burst... Default 200. */
  resetBurst?: number;
  /** ...refilled at this many per second. Default 100. */
  resetsPerSecond?: number;
}

export interface Http2ServeContext {
  listener: string;
  dispatch: Dispatch;
  scheme: 'http' | 'https';
  options?: Http2ServeOptions;
}

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/**
 * Token bucket over the client's stream resets (CVE-2023-44487, rapid reset): past the burst,
 * faster than the refill rate, the connection is sent GOAWAY ENHANCE_YOUR_CALM and destroyed.
 * nghttp2 has its own, looser limit (about 1000 then 33/s); this one is ours to tune.
 */
class ConnectionState implements ExchangeHooks {
  readonly session: ServerHttp2Session;
  readonly ctx: Http2ServeContext;
  readonly source: ConnectionSource;
  private tokens: number;
  private readonly burst: number;
  private readonly perMs: number;
  private refilledAt = performance.now();

  constructor(session: ServerHttp2Session, ctx: Http2ServeContext, socket: net.Socket) {
    this.session = session;
    this.ctx = ctx;
    this.source = Object.freeze(connectionSource(socket));
    this.burst = ctx.options?.resetBurst ?? 200;
    this.perMs = (ctx.options?.resetsPerSecond ?? 100) / 1000;
    this.tokens = this.burst;
  }

  onClientReset(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.refilledAt) * this.perMs) - 1;
    this.refilledAt = now;
    if (this.tokens < 0 && !this.session.destroyed) {
      this.session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
      this.session.destroy(undefined, NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }
}

/**
 * Takes over an accepted socket that speaks HTTP/2 (h2c prior knowledge, or TLS already
 * negotiated with ALPN h2). `head` holds bytes already read from it (e.g. by protocol detection)
 * and is replayed first.
 */
export function serveHttp2Connection(
  socket: net.Socket | tls.TLSSocket,
  head: Buffer,
  ctx: Http2ServeContext,
): Http2ServerSession {
  const o = ctx.options ?? {};
  if (head.length > 0) socket.unshift(head);
  socket.setNoDelay(true);
  socket.on('error', ignore);
  const session = http2.performServerHandshake(socket, {
    settings: {
      maxConcurrentStreams: o.maxConcurrentStreams ?? 1000,
      maxHeaderListSize: o.maxHeaderListSize ?? 65536,
      initialWindowSize: o.initialWindowSize ?? 1 << 20,
    },
    maxSessionMemory: 64,
  });
  const state = new ConnectionState(session, ctx, socket);
  session.on('error', ignore);
  session.on('frameError', ignore);
  session.on('stream', (stream: ServerHttp2Stream, _h: unknown, flags: number, raw: string[]) =>
    onStream(state, stream, flags, raw),
  );
  const idle = o.idleTimeoutMs ?? 300_000;
  if (idle > 0) session.setTimeout(idle, () => session.close());
  return session;
}

function onStream(state: ConnectionState, stream: ServerHttp2Stream, flags: number, raw: string[]): void {
  const ex = new ServerExchange(stream, state);
  const ctx = state.ctx;
  let method = '';
  let path = '';
  let authority = '';
  let host = '';
  let grpc = false;
  let expectContinue = false;
  let contentLength = -1;
  const headers: HeaderList = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    switch (name) {
      case 'host':
        host = value;
        continue;
      case 'content-type':
        grpc = value.startsWith('application/grpc');
        break;
      case 'content-length':
        // Carried as bodyLength, not as a header (see ProxyRequest.headers).
        if (/^\d{1,15}$/.test(value)) contentLength = Number(value);
        continue;
      case 'expect':
        expectContinue = value.toLowerCase() === '100-continue';
        continue;
      case 'te':
        if (value.trim().toLowerCase() !== 'trailers') continue;
        break;
      default:
        if (isConnectionHeader(name)) continue;
    }
    headers.push(name, value);
  }
  const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
  const req: ProxyRequest = {
    method,
    scheme: ctx.scheme,
    authority: authority || host,
    path,
    headers,
    protocol: 'http2',
    grpc,
    bodyLength: endStream ? 0 : contentLength,
    expectContinue: false,
    source: state.source,
    listener: ctx.listener,
    startTime: performance.now(),
  };
  ex.request = req;
  ex.requestEnded = endStream;
  if (method === 'CONNECT') {
    ex.onResponseError(ConnectMethodUnsupportedError());
    return;
  }
  // The proxy accepts bodies itself: answer 100 here rather than across the upstream.
  if (expectContinue && !endStream) stream.additionalHeaders({ ':status': 100 });
  try {
    ex.cancel = ctx.dispatch(req, endStream ? null : ex, ex);
  } catch (err) {
    ex.onResponseError(InternalProxyError(err));
  }
}

function ignore(): void {}
