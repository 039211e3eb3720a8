// One downstream HTTP/2 stream as a proxied exchange: the request body source (RequestBody) and
// the response writer (ResponseHandler). Stream listeners are shared functions reading the
// exchange from a symbol slot, so a request costs one object, not a set of closures.
import http2 from 'node:http2';
import type { ServerHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { type ProxyError, UpstreamProtocolError, InternalProxyError } from '../errors.ts';
import type {
  BodySink,
  Cancel,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { resetStream } from './reset.ts';
import { appendEndToEnd, grpcErrorHead, httpErrorHead, listToObject, objectToList } from './headers.ts';

const { NGHTTP2_NO_ERROR } = http2.constants;
const kExchange = Symbol('trellis.h2.exchange');
type ExchangeStream = ServerHttp2Stream & { [kExchange]?: ServerExchange };

const RESPOND_BODY = { waitForTrailers: true, sendDate: false } as const;
const RESPOND_END = { endStream: true, sendDate: false } as const;
const EMPTY_TRAILERS = Object.freeze({});
/** Request bytes read and dropped after an early response before the stream is reset. */
const DISCARD_LIMIT = 1 << 20;

/** Nothing sent yet, head held until the next tick (to spot trailers-only answers), head sent. */
const HEAD_NONE = 0;
const HEAD_HELD = 1;
const HEAD_SENT = 2;

export interface ExchangeHooks {
  /** The client reset a stream (RST_STREAM) it had opened; feeds the rapid-reset guard. */
  onClientReset(): void;
}

export class ServerExchange implements RequestBody, ResponseHandler {
  readonly stream: ExchangeStream;
  readonly hooks: ExchangeHooks;
  request: ProxyRequest | null = null;
  cancel: Cancel | null = null;
  /** Response finished or reset: later callbacks are ignored. */
  done = false;
  /** The request body was received in full (or there was none). */
  requestEnded = false;
  private closedByUs = false;
  private sink: BodySink | null = null;
  /** The response is done; what still arrives of the request body is dropped. */
  private discarding = false;
  private discarded = 0;
  private requestTrailers: HeaderList | null = null;
  private head = HEAD_NONE;
  private status = 0;
  private headers: HeaderList = [];
  private responseTrailers: HeaderList | null = null;
  private controller: ResponseController | null = null;
  private congested = false;

  constructor(stream: ServerHttp2Stream, hooks: ExchangeHooks) {
    this.stream = stream as ExchangeStream;
    this.hooks = hooks;
    this.stream[kExchange] = this;
    stream.on('error', ignore);
    stream.on('close', onStreamClose);
    stream.on('trailers', onRequestTrailers);
    stream.on('drain', onStreamDrain);
    stream.on('wantTrailers', onWantTrailers);
  }

  // ---- RequestBody ----

  pipe(sink: BodySink): void {
    if (this.sink !== null) throw new Error('request body piped twice');
    if (this.discarding) return; // the response is already over
    this.sink = sink;
    this.stream.on('data', onRequestData);
    this.stream.on('end', onRequestEnd);
  }

  resume(): void {
    // Before pipe() there is no 'data' listener: resuming would drop bytes.
    if (this.sink !== null && !this.discarding) this.stream.resume();
  }

  // ---- ResponseHandler ----

  onInformational(status: number, headers: HeaderList): void {
    // 100 is answered locally (see downstream.ts); 101 has no meaning in HTTP/2.
    if (this.done || this.head !== HEAD_NONE || status === 100 || status === 101) return;
    if (this.stream.destroyed || this.stream.headersSent) return;
    const obj = listToObject(headers);
    obj[':status'] = status;
    try {
      this.stream.additionalHeaders(obj);
    } catch {
      // Informational heads are optional: one node:http2 refuses is dropped.
    }
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    if (this.done || this.stream.destroyed) {
      controller.abort();
      return;
    }
    this.status = status;
    this.headers = headers;
    this.controller = controller;
    this.head = HEAD_HELD;
    // Held one tick: if the end follows at once, the head goes out with END_STREAM, which is
    // how gRPC trailers-only responses must look.
    process.nextTick(flushHeldHead, this);
  }

  onResponseData(chunk: Buffer): boolean {
    if (this.done) return true;
    if (this.head === HEAD_HELD) this.sendHead(false);
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return true;
    if (stream.write(chunk)) return true;
    this.congested = true;
    return false;
  }

  onResponseEnd(trailers: HeaderList | null): void {
    if (this.done) return;
    this.done = true;
    const hasTrailers = trailers !== null && trailers.length > 0;
    if (this.head === HEAD_NONE) {
      // An end without a start is a bug in a layer below; answer rather than hang.
      if (!this.stream.destroyed)
        this.sendError(InternalProxyError(new Error('response ended before it started')));
      return;
    }
    if (this.head === HEAD_HELD) {
      if (!hasTrailers) {
        this.sendHead(true);
        this.stopRequestBody();
        return;
      }
      this.sendHead(false);
    }
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.responseTrailers = hasTrailers ? trailers : null;
    this.stream.end();
  }

  onResponseError(err: ProxyError): void {
    if (this.done) return;
    this.done = true;
    const stream = this.stream;
    if (stream.destroyed) return;
    if (this.head !== HEAD_SENT && !stream.headersSent) {
      this.sendError(err);
      return;
    }
    this.closedByUs = true;
    resetStream(stream);
  }

  // ---- internals ----

  /** Still held after a tick: a streaming response whose first bytes have not come yet. */
  flushHeldHead(): void {
    if (this.head === HEAD_HELD) this.sendHead(false);
  }

  sendHead(endStream: boolean): void {
    this.head = HEAD_SENT;
    const stream = this.stream;
    if (stream.destroyed || stream.headersSent) return;
    const raw = appendEndToEnd([':status', String(this.status)], this.headers);
    try {
      stream.respond(raw as unknown as Record<string, string>, endStream ? RESPOND_END : RESPOND_BODY);
    } catch (err) {
      // A head node:http2 refuses (bad status, invalid header value): 502, and stop the upstream.
      this.done = true;
      this.controller?.abort();
      this.sendError(UpstreamProtocolError('upstream', errorMessage(err)));
    }
  }

  /** The proxy's own answer, before any response byte went out. */
  sendError(err: ProxyError): void {
    this.head = HEAD_SENT;
    const stream = this.stream;
    const req = this.request;
    if (req !== null && req.grpc) {
      stream.respond(grpcErrorHead(err) as unknown as Record<string, string>, RESPOND_END);
      this.stopRequestBody();
      return;
    }
    const body = Buffer.from(`${err.message}\n`, 'utf8');
    const raw = httpErrorHead(err, body.length) as unknown as Record<string, string>;
    if (req !== null && req.method === 'HEAD') {
      stream.respond(raw, RESPOND_END);
      this.stopRequestBody();
      return;
    }
    stream.respond(raw, RESPOND_BODY);
    stream.end(body);
  }

  streamClosed(): void {
    const stream = this.stream;
    if (!this.closedByUs && stream.rstCode !== NGHTTP2_NO_ERROR && !stream.session?.destroyed) {
      this.hooks.onClientReset();
    }
    if (this.done) return;
    // Client reset or connection gone before the response finished: stop the upstream side.
    this.done = true;
    const cancel = this.cancel;
    if (cancel !== null) cancel();
  }

  drained(): void {
    if (!this.congested) return;
    this.congested = false;
    this.controller?.resume();
  }

  wantTrailers(): void {
    const trailers = this.responseTrailers;
    try {
      this.stream.sendTrailers(trailers === null ? EMPTY_TRAILERS : listToObject(trailers));
    } catch {
      // Trailers node:http2 refuses: the response cannot end as sent, so it is reset.
      this.closedByUs = true;
      resetStream(this.stream);
      return;
    }
    this.stopRequestBody();
  }

  /**
   * The response is complete but the request body is not. The rest of the body is read and
   * dropped, so clients that choke on an early RST_STREAM (curl before 8.x) finish cleanly; past
   * DISCARD_LIMIT, RST_STREAM NO_ERROR (RFC 9113 §8.1) tells the client to stop sending, but only
   * once nghttp2 has really sent our END_STREAM: a RST submitted earlier overtakes queued DATA
   * and would cut the response.
   */
  private stopRequestBody(): void {
    const stream = this.stream;
    if (this.requestEnded || this.discarding || stream.destroyed || stream.closed) return;
    this.discarding = true;
    if (this.sink === null) stream.on('data', onRequestData);
    this.sink = null;
    stream.resume();
  }

  requestData(chunk: Buffer): void {
    if (this.discarding) {
      const stream = this.stream;
      this.discarded += chunk.length;
      if (this.discarded > DISCARD_LIMIT && !stream.closed && stream.state.localClose === 1) {
        this.closedByUs = true;
        stream.close(NGHTTP2_NO_ERROR);
      }
      return;
    }
    if (this.sink !== null && !this.sink.data(chunk)) this.stream.pause();
  }

  requestEnd(): void {
    // node:http2 also ends the readable side on RST_STREAM: a truncated body must not look complete.
    const rst = this.stream.rstCode;
    if (rst !== undefined && rst !== NGHTTP2_NO_ERROR) return;
    this.requestEnded = true;
    if (!this.discarding) this.sink?.end(this.requestTrailers);
  }

  setRequestTrailers(headers: IncomingHttpHeaders): void {
    this.requestTrailers = objectToList(headers);
  }
}

function exchangeOf(stream: ServerHttp2Stream): ServerExchange {
  return (stream as ExchangeStream)[kExchange]!;
}
function ignore(): void {}
function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
function flushHeldHead(ex: ServerExchange): void {
  ex.flushHeldHead();
}
function onStreamClose(this: ServerHttp2Stream): void {
  exchangeOf(this).streamClosed();
}
function onStreamDrain(this: ServerHttp2Stream): void {
  exchangeOf(this).drained();
}
function onWantTrailers(this: ServerHttp2Stream): void {
  exchangeOf(this).wantTrailers();
}
function onRequestData(this: ServerHttp2Stream, chunk: Buffer): void {
  exchangeOf(this).requestData(chunk);
}
function onRequestEnd(this: ServerHttp2Stream): void {
  exchangeOf(this).requestEnd();
}
function onRequestTrailers(this: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  exchangeOf(this).setRequestTrailers(headers);
}
