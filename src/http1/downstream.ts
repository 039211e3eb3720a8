// One HTTP/1.1 client connection: llhttp parses requests strictly (smuggling, bad bytes and
// conflicting framing are llhttp errors), each request is dispatched to the stack, and the
// response is written back. Requests are served one at a time; pipelined bytes wait in `pending`.
import { connectionSource, type ConnectionSource } from '../tls/peer-identity.ts';
import type { Socket } from 'node:net';
import { BadRequestError, HeadersTimeoutError, HeadersTooLargeError, ProxyError } from '../errors.ts';
import type {
  BodySink,
  Cancel,
  Dispatch,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { Errno, LlhttpParser, ParserType, type ParserCallbacks } from './llhttp.ts';
import { RawHeaderCollector } from './raw-headers.ts';
import { interpretRequestHead } from './request-head.ts';
import { ResponseWriter, enumFraming } from './response-writer.ts';
import { unwatch, watch, type Expiring } from './sweeper.ts';

export interface Http1ServeContext {
  listener: string;
  scheme: 'http' | 'https';
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  /** The stack in force now; read per request so a reload applies to the next request. */
  dispatch(): Dispatch;
  /** CONNECT requests and Upgrade requests leave HTTP/1: the tunnel takes the socket over. */
  tunnel(req: ProxyRequest, socket: Socket, head: Buffer): void;
  /** Connection registry for draining. */
  connections: Set<DownstreamConnection>;
  /** True once the proxy drains: responses close their connection. */
  draining(): boolean;
  /** A request without Host is routed as this authority (connections redirected by iptables). */
  defaultAuthority?: string | undefined;
}

const MAX_PENDING = 1024 * 1024;
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
export class DownstreamConnection implements ParserCallbacks, ResponseHandler, RequestBody, Expiring {
  private readonly socket: Socket;
  private readonly ctx: Http1ServeContext;
  private readonly parser: LlhttpParser;
  private readonly writer: ResponseWriter;
  private readonly source: ConnectionSource;
  deadline = 0;
  /** Our socket listeners, kept so a hand-over can remove exactly these. */
  private readonly listeners = {
    data: (chunk: Buffer): void => this.onData(chunk),
    drain: (): void => this.onDrain(),
    error: (): void => this.destroy(),
    close: (): void => this.onClose(),
    end: (): void => this.onEnd(),
  };

  // Request being parsed / served.
  private url = '';
  private readonly raw = new RawHeaderCollector();
  private headerBytes = 0;
  private req: ProxyRequest | null = null;
  private cancel: Cancel | null = null;
  private sink: BodySink | null = null;
  private early: Buffer[] | null = null;
  private requestComplete = false;
  private keepAlive = true;
  private inTrailers = false;
  private waitingDrain: ResponseController | null = null;
  private bodyPaused = false;
  private pending: Buffer | null = null;
  private parserPaused = false;
  private upgrading = false;
  private closed = false;

  constructor(socket: Socket, head: Buffer, ctx: Http1ServeContext) {
    this.socket = socket;
    this.ctx = ctx;
    this.parser = new LlhttpParser(ParserType.REQUEST, this);
    this.writer = new ResponseWriter(socket);
    this.source = connectionSource(socket);
    ctx.connections.add(this);
    socket.setNoDelay(true);
    socket.on('data', this.listeners.data);
    socket.on('drain', this.listeners.drain);
    socket.on('error', this.listeners.error);
    socket.on('close', this.listeners.close);
    socket.on('end', this.listeners.end);
    this.deadline = performance.now() + ctx.headersTimeoutMs;
    watch(this);
    if (head.length > 0) this.onData(head);
    if (socket.readableEnded) {
      // The FIN was read during protocol detection, while the socket was half-open: 'end' has
      // fired before we listened and Node will not end our side. Do what onEnd would have.
      this.keepAlive = false;
      socket.end();
    }
    socket.resume();
  }

  get idle(): boolean {
    return this.req === null && this.headerBytes === 0;
  }

  /** Drain: an idle connection closes now; a busy one after its response. */
  closeWhenIdle(): void {
    if (this.idle) this.socket.end();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.parserPaused) {
      this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      if (this.pending.length > MAX_PENDING) this.socket.pause();
      return;
    }
    this.execute(chunk);
  }

  private execute(chunk: Buffer): void {
    const r = this.parser.execute(chunk);
    if (r.errno === Errno.OK) return;
    if (r.errno === Errno.PAUSED) {
      this.parserPaused = true;
      if (r.stoppedAt < chunk.length) this.pending = chunk.subarray(r.stoppedAt);
      return;
    }
    if (r.errno === Errno.PAUSED_UPGRADE) {
      this.handOver(chunk.subarray(r.stoppedAt));
      return;
    }
    if (this.closed) return;
    if (r.errno === Errno.USER) return; // we stopped it and answered already
    this.reject(BadRequestError(this.parser.errorReason()));
  }

  /** Answers a request the proxy itself refuses, then closes: the stream cannot be trusted. */
  private reject(err: ProxyError): void {
    // `started` is stale between requests: only a request in flight can have a response on the wire.
    if (this.req === null || !this.writer.started) {
      this.keepAlive = false;
      this.writer.writeError(err, { http10: false, head: false, close: true });
      this.socket.end();
    } else this.socket.destroy(); // mid-response: never let a short response look complete
    this.closed = true;
    // The request in flight cannot complete: stop its upstream exchange now, not when the client leaves.
    const cancel = this.cancel;
    const sink = this.sink;
    this.cancel = null;
    this.sink = null;
    sink?.error(err);
    cancel?.(err);
  }

  private onEnd(): void {
    // Client sent FIN. The listener's sockets are not half-open, so Node closes ours too and the
    // exchange in flight is cancelled (as nginx and Envoy do); an idle connection just ends.
    this.keepAlive = false;
    if (this.req === null) this.socket.end();
  }

  private onClose(): void {
    this.closed = true;
    unwatch(this);
    this.ctx.connections.delete(this);
    const cancel = this.cancel;
    this.cancel = null;
    if (this.req !== null && cancel !== null) cancel(new Error('client closed the connection'));
    this.sink?.error(new Error('client closed the connection'));
    this.req = null;
    this.parser.destroy();
  }

  onDeadline(): void {
    if (this.req !== null) return; // the route's timeout governs requests in flight
    if (this.headerBytes > 0) this.reject(HeadersTimeoutError());
    else this.socket.end();
  }

  // ---- parser callbacks: the request ----
  onMessageBegin(): number {
    this.url = '';
    this.raw.reset();
    this.inTrailers = false;
    this.upgrading = false;
    this.headerBytes = 1;
    this.requestComplete = false;
    this.deadline = performance.now() + this.ctx.headersTimeoutMs;
    return 0;
  }

  onUrl(buf: Buffer, start: number, end: number): number {
    this.url += buf.latin1Slice(start, end);
    return this.countHeaderBytes(end - start);
  }

  onStatus(): number {
    return 0;
  }

  private countHeaderBytes(n: number): number {
    this.headerBytes += n;
    if (this.headerBytes <= this.ctx.maxHeaderBytes) return 0;
    this.reject(HeadersTooLargeError());
    return Errno.USER;
  }

  onHeaderField(buf: Buffer, start: number, end: number): number {
    this.raw.field(buf, start, end);
    return this.countHeaderBytes(end - start);
  }

  onHeaderValue(buf: Buffer, start: number, end: number): number {
    this.raw.value(buf, start, end);
    return this.countHeaderBytes(end - start);
  }

  onHeadersComplete(_status: number, upgrade: boolean, keepAlive: boolean): number {
    this.deadline = 0;
    this.keepAlive = keepAlive && !this.ctx.draining();
    const method = this.parser.method;
    const upgrading = upgrade || method === 'CONNECT';
    const head = interpretRequestHead(
      this.raw.list,
      method,
      this.url,
      this.parser.versionMajor,
      upgrading,
      this.ctx.defaultAuthority,
    );
    if (head instanceof ProxyError) return this.refuse(head);
    this.raw.reset();
    this.inTrailers = true;
    this.headerBytes = 1; // trailers get a budget of their own, as large as the head's
    const req: ProxyRequest = {
      method,
      scheme: this.ctx.scheme,
      authority: head.authority,
      path: head.path,
      headers: head.headers,
      protocol: 'http1',
      grpc: head.grpc,
      bodyLength: head.bodyLength,
      expectContinue: head.expectContinue,
      source: this.source,
      listener: this.ctx.listener,
      startTime: performance.now(),
    };
    this.req = req;
    this.upgrading = upgrading;
    if (upgrading) return 0; // llhttp stops with PAUSED_UPGRADE once the message is complete
    // A request without a body is complete now; an early answer keeps the connection.
    this.requestComplete = req.bodyLength === 0;
    if (req.expectContinue && req.bodyLength !== 0) this.socket.write(CONTINUE, 'latin1');
    this.sink = null;
    this.early = null;
    this.writer.reset();
    this.cancel = this.ctx.dispatch()(req, req.bodyLength === 0 ? null : this, this);
    return 0;
  }

  private refuse(err: ProxyError): number {
    this.reject(err);
    return Errno.USER;
  }

  onBody(buf: Buffer, start: number, end: number): number {
    const chunk = buf.subarray(start, end);
    if (this.sink === null) {
      // The upstream has not attached yet: copy, the socket buffer is reused.
      (this.early ??= []).push(Buffer.from(chunk));
      return 0;
    }
    if (!this.sink.data(chunk) && !this.bodyPaused) {
      this.bodyPaused = true;
      this.socket.pause();
    }
    return 0;
  }

  onMessageComplete(): number {
    this.requestComplete = true;
    if (this.req === null) return 0;
    if (this.req.bodyLength !== 0) {
      const trailers = this.raw.list.length > 0 ? this.raw.list : null;
      if (this.sink !== null) this.sink.end(trailers);
    }
    if (this.upgrading) return 0;
    // Hold pipelined requests until this response is written.
    return Errno.PAUSED;
  }

  // ---- RequestBody: the upstream pulls the body ----
  pipe(sink: BodySink): void {
    this.sink = sink;
    const early = this.early;
    this.early = null;
    if (early !== null) for (const chunk of early) sink.data(chunk);
    if (this.requestComplete) sink.end(null);
  }

  resume(): void {
    if (this.bodyPaused) {
      this.bodyPaused = false;
      this.socket.resume();
    }
  }

  // ---- ResponseHandler: the upstream answers ----
  onInformational(status: number, headers: HeaderList): void {
    if (status === 103 && this.parser.versionMinor === 1) this.writer.writeInformational(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    if (this.closed) {
      controller.abort();
      return;
    }
    this.waitingDrain = controller;
    this.writer.writeHead(status, headers, this.headOptions());
  }

  onResponseData(chunk: Buffer): boolean {
    return this.closed || this.writer.writeData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    if (this.closed) return;
    this.writer.writeEnd(trailers);
    this.finishExchange();
  }

  onResponseError(err: ProxyError): void {
    if (this.closed) return;
    if (this.writer.started) {
      this.destroy(); // mid-body: the client must see a broken response, never a short "complete" one
      return;
    }
    if (!this.requestComplete) this.keepAlive = false;
    this.writer.writeError(err, this.headOptions());
    this.finishExchange();
  }

  private headOptions(): { http10: boolean; head: boolean; close: boolean } {
    const close = !this.keepAlive || !this.requestComplete || this.ctx.draining();
    if (close) this.keepAlive = false;
    return { http10: this.parser.versionMinor === 0, head: this.req?.method === 'HEAD', close };
  }

  private onDrain(): void {
    const c = this.waitingDrain;
    if (c !== null && this.req !== null) c.resume();
  }

  private finishExchange(): void {
    this.req = null;
    this.cancel = null;
    this.sink = null;
    this.waitingDrain = null;
    this.headerBytes = 0;
    if (!this.keepAlive || this.writer.framing === enumFraming.CLOSE) {
      this.socket.end();
      return;
    }
    this.deadline = performance.now() + this.ctx.idleTimeoutMs;
    if (this.parserPaused) {
      this.parserPaused = false;
      this.parser.resume();
      const pending = this.pending;
      this.pending = null;
      if (pending !== null) {
        this.socket.resume();
        this.execute(pending);
      }
    }
  }

  /** Upgrade / CONNECT: from here on the socket carries another protocol. */
  private handOver(rest: Buffer): void {
    const req = this.req;
    unwatch(this);
    this.ctx.connections.delete(this);
    // Remove only our own listeners: the listener runtime's connection tracking stays.
    this.socket.off('data', this.listeners.data);
    this.socket.off('drain', this.listeners.drain);
    this.socket.off('end', this.listeners.end);
    this.socket.off('close', this.listeners.close);
    this.socket.off('error', this.listeners.error);
    this.socket.pause();
    this.req = null;
    this.parser.destroy();
    if (req === null) {
      this.socket.destroy();
      return;
    }
    this.ctx.tunnel(req, this.socket, rest);
  }
}

export function serveHttp1Connection(
  socket: Socket,
  head: Buffer,
  ctx: Http1ServeContext,
): DownstreamConnection {
  return new DownstreamConnection(socket, head, ctx);
}
