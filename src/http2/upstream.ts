// Talks to one HTTP/2 (or gRPC) upstream endpoint over a single multiplexed session, opened
// lazily and replaced after GOAWAY, close or error.
import http2 from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import net from 'node:net';
import type tls from 'node:tls';
import {
  ConnectFailedError,
  ConnectTimeoutError,
  type ProxyError,
  InvalidHttp2RequestError,
  UpstreamClosedError,
} from '../errors.ts';
import type { Cancel, Dispatch, ProxyRequest, RequestBody, ResponseHandler } from '../proxy/types.ts';
import { ClientExchange, type ConnectionView, requestHeaders } from './client-exchange.ts';

export interface Http2UpstreamOptions {
  connectTimeoutMs: number;
  /** Present: TLS with ALPN h2 (servername, ca, cert/key for mTLS, ...). */
  /** A function is called per session (mesh mTLS: the certificate in force at that moment). */
  tls?: tls.ConnectionOptions | (() => tls.ConnectionOptions);
  /** Close the session after this long without frames. Default 5 min; 0 keeps it open. */
  idleTimeoutMs?: number;
  /** +1 when a session is established, -1 when an established one closes (pool metrics). */
  onConnectionCount?: (delta: number) => void;
  /** A session carries at most this many streams; the next one opens a new session (maxRequestsPerConnection). */
  maxStreamsPerSession?: number;
}

export interface Http2Upstream {
  dispatch: Dispatch;
  close(): Promise<void>;
  /** A session is established and usable. */
  readonly connected: boolean;
}

/** How often a draining session is checked for being done (only while draining). */
const DRAIN_CHECK_MS = 250;

/** Errors from session.request() that mean "this session is gone": retry on a fresh one. */
const SESSION_GONE = new Set([
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_OUT_OF_STREAMS',
]);

class UpstreamConnection implements ConnectionView {
  readonly target: string;
  readonly session: ClientHttp2Session;
  connected = false;
  failure: ProxyError | null = null;
  goawayLastStreamId = -1;
  /** Streams started on this session. */
  streams = 0;
  private timer: NodeJS.Timeout | null;
  private drainWatch: NodeJS.Timeout | null = null;
  /** The transport under the session, kept to end a drained session whose peer never closes. */
  private socket: net.Socket | null = null;

  constructor(target: string, session: ClientHttp2Session, connectTimeoutMs: number) {
    this.target = target;
    this.session = session;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.connected) return;
      this.failure = ConnectTimeoutError(target, connectTimeoutMs);
      session.destroy();
    }, connectTimeoutMs);
    this.timer.unref();
    session.once('connect', () => {
      this.connected = true;
      this.clearTimer();
    });
    session.on('error', (err: unknown) => {
      if (!this.connected && this.failure === null) this.failure = ConnectFailedError(target, err);
    });
    session.on('goaway', (_code: number, lastStreamId: number) => {
      this.goawayLastStreamId = lastStreamId;
    });
    session.once('connect', (_s: unknown, socket: net.Socket) => (this.socket = socket));
    session.once('close', () => {
      this.clearTimer();
      if (this.drainWatch !== null) clearInterval(this.drainWatch);
    });
  }

  /**
   * Graceful close: open streams finish, then node ends the socket and waits for the peer to
   * close its side, which node:http2 servers never do. Once the session is done, the socket goes.
   */
  drain(): void {
    const session = this.session;
    if (!session.closed) session.close();
    if (this.drainWatch !== null || session.destroyed) return;
    this.drainWatch = setInterval(() => {
      if (!session.destroyed) return;
      if (this.drainWatch !== null) clearInterval(this.drainWatch);
      this.drainWatch = null;
      this.socket?.destroy();
    }, DRAIN_CHECK_MS);
    this.drainWatch.unref();
  }

  get usable(): boolean {
    const s = this.session;
    return !s.closed && !s.destroyed && this.goawayLastStreamId < 0 && this.failure === null;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

export function createHttp2Upstream(
  target: { address: string; port: number },
  opts: Http2UpstreamOptions,
): Http2Upstream {
  const label = net.isIPv6(target.address)
    ? `[${target.address}]:${target.port}`
    : `${target.address}:${target.port}`;
  const url = `${opts.tls ? 'https' : 'http'}://${label}`;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 300_000;
  let current: UpstreamConnection | null = null;
  let closed = false;

  function open(): UpstreamConnection {
    const session = http2.connect(url, {
      ...(typeof opts.tls === 'function' ? opts.tls() : opts.tls),
      settings: { enablePush: false, initialWindowSize: 1 << 20 },
      maxSessionMemory: 64,
    });
    const conn = new UpstreamConnection(label, session, opts.connectTimeoutMs);
    const count = opts.onConnectionCount;
    if (count) session.once('connect', () => count(1));
    session.once('close', () => {
      if (current === conn) current = null;
      if (count && conn.connected) count(-1);
    });
    session.on('goaway', () => {
      if (current === conn) current = null;
      // Let the streams below lastStreamId finish, then let the session go.
      conn.drain();
    });
    if (idleTimeoutMs > 0) session.setTimeout(idleTimeoutMs, () => conn.drain());
    // In-flight requests keep their downstream sockets referenced; an idle pool must not.
    session.unref();
    current = conn;
    return conn;
  }

  const maxStreams = opts.maxStreamsPerSession ?? 0;

  function connection(): UpstreamConnection {
    if (current !== null && current.usable) {
      if (maxStreams <= 0 || current.streams < maxStreams) return current;
      // This session has carried its share: its streams finish, new ones go to a fresh session.
      const spent = current;
      current = null;
      spent.drain();
    }
    return open();
  }

  function dispatch(req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler): Cancel {
    if (closed) {
      handler.onResponseError(UpstreamClosedError(label));
      return noop;
    }
    const headers = requestHeaders(req);
    let conn = connection();
    conn.streams++;
    let ex = new ClientExchange(conn, body, handler);
    try {
      ex.start(conn.session, headers, req.expectContinue);
    } catch (err) {
      if (!SESSION_GONE.has(errorCode(err))) {
        handler.onResponseError(InvalidHttp2RequestError(errorMessage(err), err));
        return noop;
      }
      // Raced with a GOAWAY or close: once more on a fresh session.
      if (current === conn) current = null;
      conn = open();
      conn.streams++;
      ex = new ClientExchange(conn, body, handler);
      try {
        ex.start(conn.session, headers, req.expectContinue);
      } catch (err2) {
        handler.onResponseError(ConnectFailedError(label, err2));
        return noop;
      }
    }
    return ex.cancel;
  }

  async function close(): Promise<void> {
    closed = true;
    const conn = current;
    current = null;
    if (conn === null || conn.session.destroyed) return;
    await new Promise<void>((resolve) => {
      conn.session.once('close', resolve);
      conn.drain();
    });
  }

  return {
    dispatch,
    close,
    get connected(): boolean {
      return current !== null && current.connected && current.usable;
    },
  };
}

function noop(): void {}
function errorCode(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : '';
}
function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
