// A listener: accepts connections and hands each to the protocol it speaks (declared, or
// detected from the first bytes), then to the stack of the config in force at that moment.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { detectProtocol } from '../detect/detect.ts';
import { RouteNotFoundError } from '../errors.ts';
import {
  serveHttp1Connection,
  type DownstreamConnection,
  type Http1ServeContext,
} from '../http1/downstream.ts';
import { serveHttp2Connection, type Http2ServerSession } from '../http2/downstream.ts';
import { connectionClosed, connectionOpened, type ConnectionStats } from '../metrics/proxy-stats.ts';
import type { Listener } from '../model/schema.ts';
import { proxyTcp } from '../tcp/tcp-proxy.ts';
import { MESH_TCP_ALPN, peerVerified, readPeerIdentity } from '../tls/mesh-tls.ts';
import { connectionSource, setPeerIdentity } from '../tls/peer-identity.ts';
import { authorizeConnection } from './inbound-security.ts';
import type { StackEnv } from './forward.ts';
import {
  classifyConnection,
  redirectedProtocol,
  relayPassthrough,
  withDestinationAuthority,
  type CompiledInterception,
} from './interception.ts';
import { openTunnel } from './tunnel.ts';
import type { Dispatch } from './types.ts';

const EMPTY = Buffer.alloc(0);

/** What a listener needs from the config in force; replaced on every reload. */
export interface ListenerConfigView {
  listener: Listener;
  env: StackEnv | undefined;
  dispatch: Dispatch | undefined;
  /** Outbound listeners in transparent mode: the original destinations they know (interception.ts). */
  interception?: CompiledInterception | undefined;
}

/** How one redirected connection is routed (instead of the listener's defaults). */
interface ConnectionRouting {
  h1: Http1ServeContext;
  dispatch: Dispatch;
  tcpCluster: string | undefined;
}

/**
 * How long detection waits for a client's first bytes. The short detectTimeout is for server-first
 * protocols, which a `detect` listener sends to its TCP cluster. One with none (a sidecar's
 * inbound) would close the silent connection, so it waits as long as for a request head: a
 * ClientHello read late (a stalled event loop, a busy host) must not be taken for TCP and closed.
 */
function detectWait(l: Listener): number {
  const closesSilent = l.protocol === 'detect' && l.tcpCluster === undefined;
  return closesSilent ? Math.max(l.detectTimeout, l.headersTimeout) : l.detectTimeout;
}

export class ListenerRuntime {
  readonly name: string;
  private view: ListenerConfigView;
  private readonly server: net.Server;
  private readonly secure: tls.SecureContext | undefined;
  private readonly conns: ConnectionStats;
  private readonly sockets = new Set<net.Socket>();
  readonly http1Connections = new Set<DownstreamConnection>();
  private readonly h2Sessions = new Set<Http2ServerSession>();
  private draining = false;
  private readonly h1: Http1ServeContext;

  constructor(view: ListenerConfigView, conns: ConnectionStats) {
    this.name = view.listener.name;
    this.view = view;
    this.conns = conns;
    const l = view.listener;
    this.secure = l.tls
      ? tls.createSecureContext({
          cert: readFileSync(l.tls.cert),
          key: readFileSync(l.tls.key),
          ...(l.tls.ca ? { ca: readFileSync(l.tls.ca) } : {}),
        })
      : undefined;
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true }, (s) => this.accept(s));
    this.h1 = {
      listener: l.name,
      scheme: l.tls ? 'https' : 'http',
      headersTimeoutMs: l.headersTimeout,
      idleTimeoutMs: l.idleTimeout,
      maxHeaderBytes: l.maxHeaderBytes,
      dispatch: () => this.view.dispatch ?? notRouted,
      tunnel: (req, socket, head) => {
        const env = this.view.env;
        if (env === undefined) socket.destroy();
        else {
          const l = this.view.listener;
          openTunnel(env, req, socket, head, {
            idleTimeoutMs: l.idleTimeout,
            detectTimeoutMs: l.detectTimeout,
            // Only outbound: an app behind HTTP_PROXY tunnels its HTTP; keep routing it per request.
            serveHttp:
              l.direction === 'outbound' ? (protocol, s, h) => this.serve(protocol, s, h) : undefined,
          });
        }
      },
      connections: this.http1Connections,
      draining: () => this.draining,
    };
  }

  /** Same listener, new config: the next request uses it; requests in flight keep theirs. */
  update(view: ListenerConfigView): void {
    this.view = view;
  }

  listen(): Promise<number> {
    const l = this.view.listener;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: l.address, port: l.port, reusePort: l.port !== 0, exclusive: true }, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : l.port);
      });
    });
  }

  get port(): number {
    const addr = this.server.address();
    return typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Stops accepting; idle HTTP/1 connections close now, busy ones after their response. */
  drain(): void {
    this.draining = true;
    this.server.close();
    for (const c of this.http1Connections) c.closeWhenIdle();
    // GOAWAY: the client opens no new streams here; open ones finish.
    for (const s of this.h2Sessions) s.close();
  }

  /** Closes everything still open. */
  destroy(): void {
    this.server.close();
    for (const s of this.sockets) s.destroy();
  }

  /** Idempotent: a socket handed to an HTTP/2 session may never emit 'close' itself. */
  private untrack(socket: net.Socket): void {
    if (this.sockets.delete(socket)) connectionClosed(this.conns);
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    connectionOpened(this.conns);
    socket.once('close', () => this.untrack(socket));
    socket.on('error', () => socket.destroy());
    const icpt = this.view.interception;
    if (icpt !== undefined && this.acceptRedirected(socket, icpt)) return;
    const l = this.view.listener;
    const mode = l.mtls?.mode;
    if (mode === 'STRICT') return this.terminateMesh(socket, EMPTY);
    if (mode === 'PERMISSIVE') {
      // Mesh TLS or plaintext, told apart by the first bytes (a TLS ClientHello or not).
      detectProtocol(socket, detectWait(l)).then(
        ({ protocol, head }) => {
          if (protocol === 'tls') this.terminateMesh(socket, head);
          else if (l.protocol === 'tcp') this.serve('tcp', socket, head);
          else if (protocol === 'tcp' && l.protocol === 'http') this.serve('http1', socket, head);
          else this.serve(protocol, socket, head);
        },
        () => socket.destroy(),
      );
      return;
    }
    switch (l.protocol) {
      case 'http1':
        return this.serve('http1', socket, EMPTY);
      case 'http2':
        this.serve('http2', socket, EMPTY);
        // We accepted it paused (pauseOnConnect) and the session does not start reading; a socket
        // from detection must not be resumed here (its replayed head would be emitted as 'data').
        socket.resume();
        return;
      case 'tcp':
        return this.serve('tcp', socket, EMPTY);
      default:
        detectProtocol(socket, detectWait(l)).then(
          ({ protocol, head }) => {
            if (l.protocol === 'http' && (protocol === 'tls' || protocol === 'tcp'))
              return this.serve('http1', socket, head);
            this.serve(protocol, socket, head);
          },
          () => socket.destroy(),
        );
    }
  }

  /**
   * A connection iptables redirected here (transparent mode): true when it was, and is handled.
   * Whatever the listener declares, an app dialling a service address may speak anything: sniff.
   */
  private acceptRedirected(socket: net.Socket, icpt: CompiledInterception): boolean {
    const r = classifyConnection(socket, icpt);
    if (r === undefined) return false;
    const l = this.view.listener;
    if (r.kind === 'refuse') socket.destroy();
    else if (r.kind === 'passthrough') relayPassthrough(socket, r.target, l.idleTimeout);
    else {
      const { authority, tcpCluster } = r.destination;
      const dispatch = withDestinationAuthority(authority, () => this.view.dispatch ?? notRouted);
      const conn: ConnectionRouting = {
        h1: { ...this.h1, defaultAuthority: authority, dispatch: () => dispatch },
        dispatch,
        tcpCluster,
      };
      if (l.protocol === 'tcp') this.serve('tcp', socket, EMPTY, socket, conn);
      else
        detectProtocol(socket, l.detectTimeout).then(
          ({ protocol, head }) =>
            this.serve(redirectedProtocol(protocol, tcpCluster), socket, head, socket, conn),
          () => socket.destroy(),
        );
    }
    return true;
  }

  /**
   * `raw` is the accepted TCP socket when `socket` is the TLS layer on top of it; `conn` routes a
   * redirected connection (acceptRedirected).
   */
  private serve(
    protocol: 'http1' | 'http2' | 'tls' | 'tcp',
    socket: net.Socket,
    head: Buffer,
    raw = socket,
    conn?: ConnectionRouting,
  ): void {
    if (protocol === 'http1') {
      // Detection made the socket half-open (for TCP); HTTP/1 treats a client's FIN as the end of
      // the connection, cancelling the exchange in flight as nginx and Envoy do. A tunnel the
      // request may open later makes its sockets half-open again (src/tcp/tcp-proxy.ts).
      socket.allowHalfOpen = false;
      serveHttp1Connection(socket, head, conn?.h1 ?? this.h1);
    } else if (protocol === 'http2') {
      const session = serveHttp2Connection(socket, head, {
        listener: this.name,
        dispatch: conn?.dispatch ?? this.dispatchH2,
        scheme: this.h1.scheme,
      });
      // The session owns the socket, which may never emit 'close' itself: track the session.
      session.once('close', () => {
        this.h2Sessions.delete(session);
        this.untrack(raw);
      });
      if (this.draining) session.close();
      else this.h2Sessions.add(session);
    } else if (protocol === 'tls' && this.secure) {
      this.terminateTls(socket, head);
    } else {
      this.forwardTcp(socket, head, conn);
    }
  }

  private readonly dispatchH2: Dispatch = (req, body, handler) =>
    (this.view.dispatch ?? notRouted)(req, body, handler);

  private terminateTls(socket: net.Socket, head: Buffer): void {
    if (head.length > 0) socket.unshift(head);
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: this.secure!,
      ALPNProtocols: this.view.listener.tls?.alpn ?? ['h2', 'http/1.1'],
    });
    secure.on('error', () => secure.destroy());
    secure.once('secure', () => {
      // Node's TLS server clears this flag on 'secure'; on a hand-built TLSSocket it stays true
      // and an HTTP/2 session on it waits forever for a 'secureConnect' that servers never emit.
      (secure as tls.TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      this.serve(secure.alpnProtocol === 'h2' ? 'http2' : 'http1', secure, EMPTY, socket);
    });
  }

  /**
   * Mesh mTLS: the client must present a certificate chaining to the trust bundle (else the
   * handshake fails and the connection closes); its SPIFFE ID becomes the source identity of
   * everything on this connection. ALPN names the protocol inside.
   */
  private terminateMesh(socket: net.Socket, head: Buffer): void {
    const mesh = this.view.env?.meshTls;
    if (mesh === undefined) {
      // Only possible for a listener compiled without secrets, which the loader refuses.
      socket.destroy();
      return;
    }
    if (head.length > 0) socket.unshift(head);
    const secure = mesh.accept(socket);
    const edge = this.view.env?.edge;
    let secured = false;
    const handshake = setTimeout(() => secure.destroy(), this.view.listener.headersTimeout);
    secure.on('error', (err: Error & { code?: unknown }) => {
      // A TLS failure before the handshake completed (plaintext, no or a bad certificate): refused.
      if (!secured && typeof err.code === 'string' && err.code.startsWith('ERR_SSL'))
        edge?.deniedConnection('mtls_required');
      secure.destroy();
    });
    secure.once('close', () => clearTimeout(handshake));
    secure.once('secure', () => {
      secured = true;
      clearTimeout(handshake);
      if (!peerVerified(secure)) {
        edge?.deniedConnection('mtls_required');
        return void secure.destroy();
      }
      (secure as tls.TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      const id = readPeerIdentity(secure);
      if (id !== undefined) setPeerIdentity(secure, id);
      const alpn = secure.alpnProtocol;
      if (this.view.listener.protocol === 'tcp' || alpn === MESH_TCP_ALPN) this.forwardTcp(secure, EMPTY);
      else if (alpn === 'h2') this.serve('http2', secure, EMPTY, socket);
      else this.serve('http1', secure, EMPTY, socket);
    });
  }

  private forwardTcp(socket: net.Socket, head: Buffer, conn?: ConnectionRouting): void {
    const env = this.view.env;
    const clusterName = conn !== undefined ? conn.tcpCluster : this.view.listener.tcpCluster;
    const cluster = clusterName === undefined ? undefined : env?.clusters.get(clusterName);
    const ep = cluster?.pick([], socket.remoteAddress ?? '');
    if (cluster === undefined || ep === undefined) {
      socket.destroy();
      return;
    }
    const source = connectionSource(socket);
    // AuthorizationPolicy on a TCP connection: denied connections are closed (Istio's RBAC).
    if (!authorizeConnection(env?.inboundSecurity, socket, source)) {
      env?.edge?.deniedConnection('rbac');
      socket.destroy();
      return;
    }
    const tcp = env?.edge?.tcpOpened(cluster, ep, source);
    proxyTcp(
      socket,
      head,
      { address: ep.address, port: ep.port },
      {
        connectTimeoutMs: cluster.config.connectTimeout,
        idleTimeoutMs: this.view.listener.idleTimeout,
        connect: cluster.tcp.connect,
        readyEvent: cluster.tcp.readyEvent,
      },
      tcp && { bytes: tcp, onClosed: () => void tcp.closed++ },
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const notRouted: Dispatch = (req, _body, handler) => {
  handler.onResponseError(RouteNotFoundError(req.authority, req.path));
  return () => {};
};
