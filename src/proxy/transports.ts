// Transports to a cluster's endpoints (HTTP/1 pools, HTTP/2 sessions, TCP connectors), with the
// TLS each needs: mesh mTLS read per connection, file-based TLS, or none. Transports are kept by
// endpoint and protocol across config generations, so a reload keeps warm connections.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { reconcileEndpoints, type LbEndpoint } from '../balance/index.ts';
import { Http1Upstream } from '../http1/upstream-pool.ts';
import { createHttp2Upstream } from '../http2/upstream.ts';
import type { Cluster } from '../model/schema.ts';
import { connectionClosed, connectionOpened, type ConnectionStats } from '../metrics/proxy-stats.ts';
import type { ConnectionBudget } from '../protection/connection-budget.ts';
import { ProtectionRegistry } from '../protection/registry.ts';
import { MESH_TCP_ALPN, MeshTlsError, type MeshTls } from '../tls/mesh-tls.ts';
import type { Dispatch } from './types.ts';

export interface Transport {
  dispatch: Dispatch;
  /** Stops taking new requests; open exchanges finish. */
  close(): void;
}

/** Transports by endpoint and protocol, shared by every config generation. */
export class TransportRegistry {
  private readonly transports = new Map<string, Transport>();
  private readonly endpoints = new Map<string, LbEndpoint[]>();
  private inUse = new Set<string>();
  /** Limits, detectors, health checkers and adaptive limits, kept and swept like transports. */
  readonly protection = new ProtectionRegistry();
  /**
   * The workload certificate of the config in force. Pools outlive configs, so each new mesh
   * connection reads it here: a renewal reaches new connections while open ones keep theirs.
   */
  meshTls: MeshTls | undefined;

  transportFor(
    cluster: Cluster,
    ep: LbEndpoint,
    conns: ConnectionStats,
    budget?: ConnectionBudget,
  ): Transport {
    let key = `${cluster.protocol}|${ep.key}|${cluster.tls ? JSON.stringify(cluster.tls) : ''}|${cluster.mtls ? JSON.stringify(cluster.mtls) : ''}`;
    // Pools with per-connection or per-cluster limits belong to their cluster alone.
    const l = cluster.limits;
    if (l?.maxConnections !== undefined || l?.maxRequestsPerConnection !== undefined)
      key += `|${cluster.name}|${l.maxConnections}|${l.maxPendingRequests}|${l.maxRequestsPerConnection}`;
    let t = this.transports.get(key);
    if (t === undefined) {
      t = createTransport(cluster, ep, conns, budget, upstreamTls(cluster, this));
      this.transports.set(key, t);
    }
    this.inUse.add(key);
    return t;
  }

  /** Endpoint objects keep their load signals (in-flight, EWMA) across reloads. */
  endpointsFor(cluster: Cluster): LbEndpoint[] {
    const eps = reconcileEndpoints(this.endpoints.get(cluster.name) ?? [], cluster.endpoints);
    this.endpoints.set(cluster.name, eps);
    return eps;
  }

  /** The endpoints of cluster `name` as last reconciled (undefined if never), without touching them. */
  endpointsOf(name: string): readonly LbEndpoint[] | undefined {
    return this.endpoints.get(name);
  }

  /** Call before compiling a config; then `sweep()` closes what the new config no longer uses. */
  beginGeneration(): void {
    this.inUse = new Set();
    this.protection.begin();
  }

  sweep(): void {
    for (const [key, t] of this.transports) {
      if (!this.inUse.has(key)) {
        t.close();
        this.transports.delete(key);
      }
    }
    this.protection.sweep();
  }

  closeAll(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
    this.protection.stopAll();
  }
}

export type TlsOptionsSource = tls.ConnectionOptions | (() => tls.ConnectionOptions);

/** TLS to a cluster's endpoints: mesh mTLS (read per connection), file-based TLS, or none. */
export function upstreamTls(
  cluster: Cluster,
  registry: TransportRegistry,
  alpn = cluster.protocol === 'http1' ? ['http/1.1'] : cluster.protocol === 'tcp' ? [MESH_TCP_ALPN] : ['h2'],
): TlsOptionsSource | undefined {
  const mtls = cluster.mtls;
  if (mtls === undefined) return tlsOptions(cluster);
  return () => {
    const mesh = registry.meshTls;
    // The config loader refuses an mtls cluster without secrets; this guards a bug, not input.
    if (mesh === undefined)
      throw new MeshTlsError(
        'TRELLIS_SECRET_MISSING',
        `cluster ${cluster.name} needs the workload certificate`,
      );
    return mesh.clientOptions(mtls, alpn);
  };
}

/** Opens a TCP connection to an endpoint of a tcp cluster (mesh TLS when the cluster says so). */
export interface TcpConnector {
  connect(target: { address: string; port: number }): net.Socket;
  /** The event after which bytes may flow: 'connect', or 'secureConnect' for TLS. */
  readyEvent: 'connect' | 'secureConnect';
}

export function tcpConnector(
  cluster: Cluster,
  registry: TransportRegistry,
  alpn = [MESH_TCP_ALPN],
): TcpConnector {
  const source = upstreamTls(cluster, registry, alpn);
  if (source === undefined)
    return {
      readyEvent: 'connect',
      connect: (t) => net.connect({ host: t.address, port: t.port, allowHalfOpen: true, noDelay: true }),
    };
  return {
    readyEvent: 'secureConnect',
    connect: (t) => {
      const opts = typeof source === 'function' ? source() : source;
      const s = tls.connect({ ...opts, host: t.address, port: t.port });
      s.setNoDelay(true);
      return s;
    },
  };
}

function tlsOptions(cluster: Cluster): tls.ConnectionOptions | undefined {
  const t = cluster.tls;
  if (!t) return undefined;
  const opts: tls.ConnectionOptions = { rejectUnauthorized: !t.insecureSkipVerify };
  if (t.ca) opts.ca = readFileSync(t.ca);
  if (t.cert) opts.cert = readFileSync(t.cert);
  if (t.key) opts.key = readFileSync(t.key);
  if (t.serverName) opts.servername = t.serverName;
  if (t.alpn) opts.ALPNProtocols = t.alpn;
  return opts;
}

function createTransport(
  cluster: Cluster,
  ep: LbEndpoint,
  conns: ConnectionStats,
  budget: ConnectionBudget | undefined,
  tlsSource: TlsOptionsSource | undefined,
): Transport {
  const target = { address: ep.address, port: ep.port };
  const onConnectionCount = (delta: number): void =>
    delta > 0 ? connectionOpened(conns) : connectionClosed(conns);
  if (cluster.protocol === 'http2' || cluster.protocol === 'grpc') {
    const maxStreams = cluster.limits?.maxRequestsPerConnection;
    const h2Tls =
      tlsSource === undefined
        ? undefined
        : typeof tlsSource === 'function'
          ? tlsSource
          : { ...tlsSource, ALPNProtocols: ['h2'] };
    const up = createHttp2Upstream(target, {
      connectTimeoutMs: cluster.connectTimeout,
      idleTimeoutMs: cluster.pool.idleTimeout,
      onConnectionCount,
      ...(maxStreams !== undefined ? { maxStreamsPerSession: maxStreams } : {}),
      ...(h2Tls ? { tls: h2Tls } : {}),
    });
    return { dispatch: up.dispatch, close: () => void up.close() };
  }
  const pool = new Http1Upstream(target, {
    connectTimeoutMs: cluster.connectTimeout,
    maxIdle: cluster.pool.maxIdlePerEndpoint,
    idleTimeoutMs: cluster.pool.idleTimeout,
    tls: tlsSource,
    onConnectionCount,
    maxRequestsPerConnection: cluster.limits?.maxRequestsPerConnection,
    budget,
  });
  return { dispatch: pool.dispatch, close: () => pool.close() };
}
