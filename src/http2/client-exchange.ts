// One upstream HTTP/2 stream: sends the ProxyRequest (pulling its body as a BodySink) and feeds
// the response to the ResponseHandler. Listeners are shared functions; the exchange sits in a
// symbol slot on the stream.
import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import {
  ConnectFailedError,
  type ProxyError,
  UpstreamResetError,
  InvalidHttp2RequestError,
  RequestBodyAbortedError,
  UpstreamRefusedStreamError,
} from '../errors.ts';
import type {
  BodySink,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { cancelStream } from './reset.ts';
import { isConnectionHeader, listToObject, rawToList } from './headers.ts';

const { NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
const kExchange = Symbol('trellis.h2.client-exchange');
type ExchangeStream = ClientHttp2Stream & { [kExchange]?: ClientExchange };

const REQUEST_WITH_BODY = { waitForTrailers: true } as const;
const REQUEST_NO_BODY = { endStream: true } as const;
const EMPTY_TRAILERS = Object.freeze({});
const NO_HEADERS: HeaderList = [];

/** What a stream needs to know about the session it runs on. */
export interface ConnectionView {
  readonly target: string;
  connected: boolean;
  /** Why the connection failed before it was established (timeout, refused). */
  failure: ProxyError | null;
  /** Last stream id the peer promised to process, from its GOAWAY; -1 without one. */
  goawayLastStreamId: number;
}

/** Request pseudo-headers plus end-to-end headers as a raw node:http2 header array. */
export function requestHeaders(req: ProxyRequest): string[] {
  const raw = [':method', req.method, ':scheme', req.scheme, ':authority', req.authority, ':path', req.path];
  const list = req.headers;
  let hasTe = false;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 58 || isConnectionHeader(name)) continue;
    if (name === 'expect' || name === 'content-length') continue;
    const value = list[i + 1]!;
    if (name === 'te') {
      if (value.trim().toLowerCase() !== 'trailers' || hasTe) continue;
      hasTe = true;
    }
    raw.push(name, value);
  }
  // gRPC servers may insist on it; HTTP/1 clients rarely send it.
  if (req.grpc && !hasTe) raw.push('te', 'trailers');
  if (req.bodyLength > 0 || (req.bodyLength === 0 && hasBodySemantics(req.method))) {
    raw.push('content-length', String(req.bodyLength));
  }
  return raw;
}

function hasBodySemantics(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

export class ClientExchange implements BodySink, ResponseController {
  private readonly conn: ConnectionView;
  private readonly body: RequestBody | null;
  private readonly handler: ResponseHandler;
  private stream: ExchangeStream | null = null;
  private finished = false;
  private bodyWaiting = false;
  private streamError: unknown = null;
  private requestTrailers: HeaderList | null = null;
  private responseTrailers: HeaderList | null = null;
  /** Bound once: the Cancel handed back by dispatch. */
  readonly cancel: (reason?: Error) => void;

  constructor(conn: ConnectionView, body: RequestBody | null, handler: ResponseHandler) {
    this.conn = conn;
    this.body = body;
    this.handler = handler;
    this.cancel = this.abort.bind(this);
  }

  /** Starts the stream on `session`; throws what session.request() throws. */
  start(session: http2.ClientHttp2Session, headers: string[], expectContinue: boolean): void {
    const body = this.body;
    const stream = session.request(
      headers as unknown as Record<string, string>,
      body === null ? REQUEST_NO_BODY : REQUEST_WITH_BODY,
    ) as ExchangeStream;
    this.stream = stream;
    stream[kExchange] = this;
    stream.on('error', onError);
    stream.on('close', onClose);
    stream.on('headers', onInformational);
    stream.on('response', onResponse);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    if (body === null) return;
    stream.on('drain', onDrain);
    stream.on('wantTrailers', onWantTrailers);
    // The body is accepted without waiting for the upstream: HTTP/2 flow control bounds it.
    if (expectContinue) this.handler.onInformational?.(100, NO_HEADERS);
    body.pipe(this);
  }

  // ---- ResponseController ----

  resume(): void {
    const s = this.stream;
    if (s !== null && !this.finished && !s.destroyed) s.resume();
  }

  abort(_reason?: Error): void {
    if (this.finished) return;
    this.finished = true;
    const s = this.stream;
    if (s !== null) cancelStream(s);
  }

  // ---- BodySink ----

  data(chunk: Buffer): boolean {
    const s = this.stream;
    if (this.finished || s === null || s.destroyed || s.writableEnded) return true;
    if (s.write(chunk)) return true;
    this.bodyWaiting = true;
    return false;
  }

  end(trailers: HeaderList | null): void {
    const s = this.stream;
    if (s === null || s.destroyed || s.writableEnded) return;
    this.requestTrailers = trailers !== null && trailers.length > 0 ? trailers : null;
    s.end();
  }

  error(err: Error): void {
    if (this.finished) return;
    this.abort(err);
    this.handler.onResponseError(RequestBodyAbortedError(err));
  }

  // ---- stream events ----

  fail(err: ProxyError): void {
    if (this.finished) return;
    this.finished = true;
    this.handler.onResponseError(err);
  }

  informational(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.finished) return;
    this.handler.onInformational?.(Number(headers[':status']), rawToList(raw));
  }

  response(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.finished) return;
    this.handler.onResponseStart(Number(headers[':status']), rawToList(raw), this);
  }

  responseData(chunk: Buffer): void {
    if (this.finished) return;
    if (!this.handler.onResponseData(chunk)) this.stream!.pause();
  }

  trailers(raw: string[]): void {
    this.responseTrailers = rawToList(raw);
  }

  responseEnd(): void {
    if (this.finished) return;
    // node:http2 also ends the readable side on RST_STREAM: that is a reset, left to 'close'.
    const rst = this.stream!.rstCode;
    if (rst !== undefined && rst !== NGHTTP2_NO_ERROR) return;
    this.finished = true;
    // Answered before the whole request body went up: stop sending it.
    if (!this.stream!.writableEnded) cancelStream(this.stream!);
    this.handler.onResponseEnd(this.responseTrailers);
  }

  closed(): void {
    if (this.finished) return;
    const s = this.stream!;
    const conn = this.conn;
    let err: ProxyError;
    if (!conn.connected) err = conn.failure ?? ConnectFailedError(conn.target, this.streamError);
    else if (
      s.rstCode === NGHTTP2_REFUSED_STREAM ||
      (conn.goawayLastStreamId >= 0 && (s.id === undefined || s.id > conn.goawayLastStreamId))
    )
      err = UpstreamRefusedStreamError(conn.target);
    else err = UpstreamResetError(conn.target, this.streamError ?? new Error(`RST_STREAM code ${s.rstCode}`));
    this.fail(err);
  }

  drained(): void {
    if (!this.bodyWaiting) return;
    this.bodyWaiting = false;
    this.body?.resume();
  }

  wantTrailers(): void {
    const t = this.requestTrailers;
    try {
      this.stream!.sendTrailers(t === null ? EMPTY_TRAILERS : listToObject(t));
    } catch (err) {
      this.fail(InvalidHttp2RequestError('trailers refused', err));
      cancelStream(this.stream!);
    }
  }

  setError(err: unknown): void {
    this.streamError = err;
  }
}

function exchangeOf(stream: ClientHttp2Stream): ClientExchange {
  return (stream as ExchangeStream)[kExchange]!;
}
function onError(this: ClientHttp2Stream, err: unknown): void {
  exchangeOf(this).setError(err);
}
function onClose(this: ClientHttp2Stream): void {
  exchangeOf(this).closed();
}
function onInformational(this: ClientHttp2Stream, h: IncomingHttpHeaders, _f: number, raw: string[]): void {
  exchangeOf(this).informational(h, raw);
}
function onResponse(this: ClientHttp2Stream, h: IncomingHttpHeaders, _f: number, raw: string[]): void {
  exchangeOf(this).response(h, raw);
}
function onData(this: ClientHttp2Stream, chunk: Buffer): void {
  exchangeOf(this).responseData(chunk);
}
function onTrailers(this: ClientHttp2Stream, _h: IncomingHttpHeaders, _f: number, raw: string[]): void {
  exchangeOf(this).trailers(raw);
}
function onEnd(this: ClientHttp2Stream): void {
  exchangeOf(this).responseEnd();
}
function onDrain(this: ClientHttp2Stream): void {
  exchangeOf(this).drained();
}
function onWantTrailers(this: ClientHttp2Stream): void {
  exchangeOf(this).wantTrailers();
}
