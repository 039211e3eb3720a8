// One keep-alive HTTP/1.1 connection to an upstream endpoint. It carries one exchange at a time;
// its state lives in fields (not a per-request object) so a request allocates almost nothing.
import type { Socket } from 'node:net';
import { ConnectFailedError, ProxyError, UpstreamProtocolError, UpstreamResetError } from '../errors.ts';
import type {
  BodySink,
  Cancel,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import {
  chunkHeader,
  connectionHeaderTokens,
  headLength,
  serializeHeaders,
  withoutHopByHop,
  writeHead,
} from './headers.ts';
import { RawHeaderCollector } from './raw-headers.ts';
import { Errno, LlhttpParser, ParserType, SKIP_BODY, type ParserCallbacks } from './llhttp.ts';

export interface ConnectionOwner {
  readonly label: string;
  /** The exchange is over and the connection can carry another one. */
  release(conn: UpstreamConnection): void;
  /** The connection is closed; forget it. */
  forget(conn: UpstreamConnection): void;
  /** The connection died before any response byte on a reused socket: send the request again. */
  retryStale(
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
    ticket: ExchangeTicket,
  ): void;
}

/**
 * What a cancel function refers to: the connection carrying the exchange and which of its
 * exchanges it is. A retry after a stale keep-alive socket moves the ticket to the new connection,
 * so the caller's cancel still reaches the request.
 */
export class ExchangeTicket {
  conn: UpstreamConnection | null = null;
  use = 0;
  readonly cancel: Cancel = (reason) => this.conn?.cancelExchange(this.use, reason);
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const REQUEST_LINE_MID = ' HTTP/1.1\r\nhost: ';
/** Response head (and trailer) bytes accepted from an upstream: a bound on what one response can pin. */
const MAX_RESPONSE_HEADER_BYTES = 64 * 1024;

export class UpstreamConnection implements ParserCallbacks, BodySink, ResponseController {
  readonly socket: Socket;
  private readonly owner: ConnectionOwner;
  private readonly sharedReads: boolean;
  private readonly parser: LlhttpParser;
  /** Times this connection has started an exchange. */
  uses = 0;
  idleSince = 0;

  // The exchange in flight (null when idle).
  private ticket: ExchangeTicket | null = null;
  private req: ProxyRequest | null = null;
  private body: RequestBody | null = null;
  private handler: ResponseHandler | null = null;
  private chunked = false;
  private requestDone = false;
  private responseStarted = false;
  private responseBytes = 0;
  private readonly raw = new RawHeaderCollector();
  private headerBytes = 0;
  private inTrailers = false;
  /** A response completed inside the chunk being parsed; released once the rest of it is checked. */
  private releaseAfterParse = false;
  private waitingDrain = false;
  private paused = false;
  private closed = false;
  private gone = false;
  /** Set when the TCP (or TLS) handshake completed. */
  connected = false;
  /** Set by the pool when the connect timer fired. */
  connectError: ProxyError | null = null;

  /**
   * `sharedReads`: the socket was opened with the pool's `onread` buffer and calls onRead, whose
   * bytes are overwritten by the next read of any socket: body chunks are copied before they leave.
   */
  constructor(socket: Socket, owner: ConnectionOwner, sharedReads = false) {
    this.socket = socket;
    this.owner = owner;
    this.sharedReads = sharedReads;
    this.parser = new LlhttpParser(ParserType.RESPONSE, this);
    socket.setNoDelay(true);
    if (!sharedReads) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('end', () => this.onEnd());
    socket.on('error', (err) => this.onClose(err));
    socket.on('close', () => this.onClose(undefined));
  }

  /** Aborts exchange number `use` if it is still the one in flight here. */
  cancelExchange(use: number, reason?: Error): void {
    if (this.uses === use && this.handler !== null) this.abort(reason);
  }

  get busy(): boolean {
    return this.handler !== null;
  }

  get usable(): boolean {
    return !this.closed && !this.socket.destroyed && this.handler === null;
  }

  /** Starts an exchange; the ticket (new, or moved here by a retry) is what cancels it. */
  start(
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
    ticket = new ExchangeTicket(),
  ): ExchangeTicket {
    this.uses++;
    ticket.conn = this;
    ticket.use = this.uses;
    this.ticket = ticket;
    this.req = req;
    this.body = body;
    this.handler = handler;
    this.responseStarted = false;
    this.responseBytes = 0;
    this.requestDone = body === null;
    this.chunked = req.bodyLength < 0;
    this.paused = false;
    let last = '\r\n';
    if (req.bodyLength > 0 || (req.bodyLength === 0 && METHODS_WITH_BODY.has(req.method))) {
      last = 'content-length: ' + req.bodyLength + '\r\n\r\n';
    } else if (this.chunked) {
      last = 'transfer-encoding: chunked\r\n\r\n';
    }
    // The head is written in place (no string concatenation): "METHOD path HTTP/1.1", host, headers.
    const { method, path, authority } = req;
    const out = Buffer.allocUnsafe(
      method.length +
        path.length +
        REQUEST_LINE_MID.length +
        authority.length +
        3 +
        headLength('', req.headers, last),
    );
    let at = out.latin1Write(method, 0);
    out[at++] = 0x20;
    at += out.latin1Write(path, at);
    at += out.latin1Write(REQUEST_LINE_MID, at);
    at += out.latin1Write(authority, at);
    out[at++] = 0x0d;
    out[at++] = 0x0a;
    writeHead(out, at, '', req.headers, last);
    this.socket.write(out);
    if (body !== null) body.pipe(this);
    return ticket;
  }

  // --- BodySink: the request body flows in here ---
  data(chunk: Buffer): boolean {
    if (this.handler === null || this.closed) return true;
    if (this.chunked) {
      if (chunk.length === 0) return true;
      this.socket.cork();
      this.socket.write(chunkHeader(chunk.length), 'latin1');
      this.socket.write(chunk);
      const ok = this.socket.write('\r\n', 'latin1');
      this.socket.uncork();
      if (!ok) this.waitingDrain = true;
      return ok;
    }
    const ok = this.socket.write(chunk);
    if (!ok) this.waitingDrain = true;
    return ok;
  }

  end(trailers: HeaderList | null): void {
    if (this.handler === null || this.closed) return;
    if (this.chunked) {
      const t = trailers ? serializeHeaders(withoutHopByHop(trailers, null)) : '';
      this.socket.write('0\r\n' + t + '\r\n', 'latin1');
    }
    this.requestDone = true;
  }

  error(_err: Error): void {
    // The client's body broke off: the upstream request cannot be completed.
    this.abort();
  }

  private onDrain(): void {
    if (this.waitingDrain) {
      this.waitingDrain = false;
      this.body?.resume();
    }
  }

  // --- ResponseController ---
  resume(): void {
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  abort(_reason?: Error): void {
    this.handler = null;
    this.closed = true;
    this.socket.destroy();
  }

  // --- socket events ---
  /** `onread` callback: `n` bytes in the shared buffer. Returning false pauses the socket. */
  onRead(buf: Buffer, n: number): boolean {
    this.onData(buf.subarray(0, n));
    return !this.paused;
  }

  private onData(chunk: Buffer): void {
    this.responseBytes += chunk.length;
    if (this.handler === null) {
      // Bytes on an idle connection: the upstream is confused; never reuse it.
      this.abort();
      return;
    }
    const r = this.parser.execute(chunk);
    if (this.releaseAfterParse) {
      this.releaseAfterParse = false;
      this.parser.resume();
      // Bytes after a complete response: the upstream is out of step (a response for no request
      // would answer the next one); never reuse the connection.
      if (r.stoppedAt < chunk.length || this.closed) this.abort();
      else this.owner.release(this);
      return;
    }
    if (r.errno !== 0 && this.handler !== null) {
      this.fail(UpstreamProtocolError(this.owner.label, this.parser.errorReason()));
    }
  }

  private onEnd(): void {
    if (this.handler !== null && this.responseStarted) {
      // A close-delimited body ends here; finish() completes it or reports truncation.
      const errno = this.parser.finish();
      if (errno !== 0 && this.handler !== null) this.fail(UpstreamResetError(this.owner.label));
    }
    if (this.releaseAfterParse) {
      this.releaseAfterParse = false;
      this.abort(); // the upstream is closing: nothing to reuse
    }
  }

  private onClose(err: Error | undefined): void {
    if (this.gone) return;
    this.gone = true;
    this.closed = true;
    this.socket.destroy();
    const handler = this.handler;
    const req = this.req;
    this.handler = null;
    this.owner.forget(this);
    this.parser.destroy();
    if (handler === null || req === null) return;
    if (!this.connected) {
      handler.onResponseError(this.connectError ?? ConnectFailedError(this.owner.label, err));
      return;
    }
    const replayable = this.body === null || req.bodyLength === 0;
    if (this.uses > 1 && this.responseBytes === 0 && replayable) {
      // The upstream closed a kept-alive socket just as we reused it: nothing was processed.
      this.owner.retryStale(req, this.body, handler, this.ticket!);
      return;
    }
    handler.onResponseError(UpstreamResetError(this.owner.label, err));
  }

  private fail(err: ProxyError): void {
    const handler = this.handler;
    this.handler = null;
    this.closed = true;
    this.socket.destroy();
    handler?.onResponseError(err);
  }

  // --- ParserCallbacks: the upstream response ---
  onMessageBegin(): number {
    this.raw.reset();
    this.inTrailers = false;
    this.headerBytes = 0;
    return 0;
  }

  private countHeaderBytes(n: number): number {
    this.headerBytes += n;
    if (this.headerBytes <= MAX_RESPONSE_HEADER_BYTES) return 0;
    this.fail(UpstreamProtocolError(this.owner.label, 'response headers are too large'));
    return Errno.USER;
  }

  onUrl(): number {
    return 0;
  }

  onStatus(): number {
    return 0;
  }

  onHeaderField(buf: Buffer, start: number, end: number): number {
    this.raw.field(buf, start, end);
    return this.countHeaderBytes(end - start);
  }

  onHeaderValue(buf: Buffer, start: number, end: number): number {
    this.raw.value(buf, start, end);
    return this.countHeaderBytes(end - start);
  }

  onHeadersComplete(status: number, _upgrade: boolean, _keepAlive: boolean): number {
    const handler = this.handler;
    if (handler === null) return 0;
    if (status < 100) {
      // llhttp takes any three digits; 0xx is no HTTP status (and would leave the client waiting).
      this.fail(UpstreamProtocolError(this.owner.label, `invalid status code ${status}`));
      return Errno.USER;
    }
    if (status < 200) {
      if (status !== 101) handler.onInformational?.(status, this.endToEndHeaders());
      return 0;
    }
    this.responseStarted = true;
    this.inTrailers = true;
    const headers = this.endToEndHeaders();
    this.raw.reset();
    handler.onResponseStart(status, headers, this);
    if (this.req?.method === 'HEAD' || status === 204 || status === 304) return SKIP_BODY;
    return 0;
  }

  onBody(buf: Buffer, start: number, end: number): number {
    const handler = this.handler;
    if (handler === null) return 0;
    const chunk = this.sharedReads ? Buffer.copyBytesFrom(buf, start, end - start) : buf.subarray(start, end);
    if (!handler.onResponseData(chunk) && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    return 0;
  }

  onMessageComplete(): number {
    const handler = this.handler;
    if (handler === null || !this.responseStarted) return 0; // 1xx: the real response follows
    const trailers = this.inTrailers && this.raw.list.length > 0 ? this.endToEndHeaders() : null;
    const reusable = this.parser.keepAlive && this.requestDone;
    this.handler = null;
    this.req = null;
    this.body = null;
    handler.onResponseEnd(trailers);
    if (!reusable || this.closed) {
      this.abort();
      return 0;
    }
    // Stop here: onData releases the connection if nothing follows this response in the chunk.
    this.releaseAfterParse = true;
    return Errno.PAUSED;
  }

  private endToEndHeaders(): HeaderList {
    const list = this.raw.list;
    return withoutHopByHop(list, connectionHeaderTokens(list));
  }
}
