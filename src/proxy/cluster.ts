// A cluster at run time: its balancer over endpoints and one transport per endpoint. Transports
// (connection pools, HTTP/2 sessions) outlive configs: a reload that keeps an endpoint keeps its
// warm connections; the ones no config uses any more are closed once their requests finish.
// The cluster also protects its endpoints (src/protection): limits checked before a pick, outlier
// detection and adaptive concurrency fed by every answer, health checks; their state and timers
// outlive configs the same way.
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { NoHealthyEndpointError, type ProxyError } from '../errors.ts';
import {
  createBalancer,
  hashKeyFor,
  isAvailable,
  onRequestAbandoned,
  onRequestEnd,
  onRequestStart,
  reconcileEndpoints,
  type Balancer,
  type LbEndpoint,
} from '../balance/index.ts';
import { Http1Upstream } from '../http1/upstream-pool.ts';
import { createHttp2Upstream } from '../http2/upstream.ts';
import type { Cluster } from '../model/schema.ts';
import type { PolicyStats } from '../metrics/policy-stats.ts';
import { connectionClosed, connectionOpened, type ConnectionStats } from '../metrics/proxy-stats.ts';
import type { AdaptiveConcurrency } from '../protection/adaptive-concurrency.ts';
import type { ClusterGate } from '../protection/cluster-gate.ts';
import type { ConnectionBudget } from '../protection/connection-budget.ts';
import type { HealthChecker } from '../protection/health-check.ts';
import { GATEWAY_FAILURE, isEndpointFailure, type OutlierDetector } from '../protection/outlier.ts';
import { ProtectionRegistry } from '../protection/registry.ts';
import { protectionSeries } from '../protection/stats.ts';
import { MESH_TCP_ALPN, MeshTlsError, type MeshTls } from '../tls/mesh-tls.ts';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from './types.ts';

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

type TlsOptionsSource = tls.ConnectionOptions | (() => tls.ConnectionOptions);

/** TLS to a cluster's endpoints: mesh mTLS (read per connection), file-based TLS, or none. */
function upstreamTls(
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

/**
 * Feeds the balancer's load signals (in-flight until the end, latency to the first byte), outlier
 * detection (every answer, and failures before one) and adaptive concurrency (latency of answers),
 * and releases the request's admission when it ends.
 */
class BalancedExchange implements ResponseHandler {
  private readonly ep: LbEndpoint;
  private readonly next: ResponseHandler;
  private readonly cluster: ClusterRuntime;
  private readonly start = performance.now();
  private firstByteMs = 0;
  private failed = false;
  private answered = false;
  private ended = false;
  /** The transport's cancel; set right after dispatch. */
  inner: Cancel | null = null;

  constructor(ep: LbEndpoint, next: ResponseHandler, cluster: ClusterRuntime) {
    this.ep = ep;
    this.next = next;
    this.cluster = cluster;
    onRequestStart(ep);
  }

  onInformational(status: number, headers: HeaderList): void {
    this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.failed = status >= 500;
    this.answered = true;
    this.firstByteMs = performance.now() - this.start;
    this.cluster.outlier?.record(this.ep, status);
    if (!this.failed) this.cluster.adaptive?.sample(this.firstByteMs);
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    return this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    this.end(this.firstByteMs, this.failed);
    this.next.onResponseEnd(trailers);
  }

  onResponseError(err: ProxyError): void {
    if (err.code === 'TRELLIS_OVERFLOW') {
      // The pool refused it before it reached the endpoint: nothing to learn about the endpoint.
      this.abandon();
    } else {
      if (!this.answered && isEndpointFailure(err)) this.cluster.outlier?.record(this.ep, GATEWAY_FAILURE);
      this.end(performance.now() - this.start, true);
    }
    this.next.onResponseError(err);
  }

  /** Cancelled from downstream: no more callbacks come, so release the endpoint here. */
  readonly cancel: Cancel = (reason) => {
    if (this.ended) return;
    // The client left (or a retry dropped a 5xx head): only an answered 5xx counts as a failure.
    this.end(this.firstByteMs || performance.now() - this.start, this.failed);
    this.inner?.(reason);
  };

  private end(latencyMs: number, failed: boolean): void {
    if (this.ended) return;
    this.ended = true;
    onRequestEnd(this.ep, latencyMs, failed);
    this.cluster.gate.release();
  }

  private abandon(): void {
    if (this.ended) return;
    this.ended = true;
    onRequestAbandoned(this.ep);
    this.cluster.gate.release();
  }
}

export interface ClusterRuntimeOptions {
  /** Outlier detection's clock in ms (default performance.now); tests inject one. */
  now?: () => number;
  /** false: no protection timers; tests run sweeps, windows and health-check rounds by hand. */
  timers?: boolean;
}

/** Endpoints a request's earlier tries used (set by src/resilience on each try's request). */
export const kTriedEndpoints = Symbol('trellis.triedEndpoints');
export interface TriedEndpoints {
  [kTriedEndpoints]?: LbEndpoint[];
}

/** Who wants to know the endpoint a request was sent to (set by edge metrics on the request). */
export const kUpstreamObserver = Symbol('trellis.upstreamObserver');
export interface UpstreamObserver {
  upstreamPicked(cluster: ClusterRuntime, ep: LbEndpoint): void;
}
export interface UpstreamObserved {
  [kUpstreamObserver]?: UpstreamObserver;
}

export class ClusterRuntime {
  readonly name: string;
  readonly config: Cluster;
  /** The endpoints, shared with the balancer (and with later configs of this cluster). */
  readonly endpoints: readonly LbEndpoint[];
  readonly gate: ClusterGate;
  readonly outlier: OutlierDetector | undefined;
  readonly healthChecker: HealthChecker | undefined;
  readonly adaptive: AdaptiveConcurrency | undefined;
  /** How TCP connections to the endpoints are opened (tcp listeners, CONNECT tunnels). */
  readonly tcp: TcpConnector;
  /** How WebSocket/Upgrade connections to the endpoints are opened. */
  readonly upgrade: TcpConnector;
  private readonly balancer: Balancer;
  private readonly transports = new Map<LbEndpoint, Transport>();

  /**
   * `policy`: where the cluster's overflow, ejection, health-check and concurrency-limit series
   * live (ProxyStats.policy); without it they are counted but not exported.
   */
  constructor(
    config: Cluster,
    registry: TransportRegistry,
    conns: ConnectionStats,
    policy?: PolicyStats,
    opts: ClusterRuntimeOptions = {},
  ) {
    this.name = config.name;
    this.config = config;
    const eps = registry.endpointsFor(config);
    this.endpoints = eps;
    this.balancer = createBalancer(config.lb.policy, eps, {
      ...(config.lb.tableSize ? { tableSize: config.lb.tableSize } : {}),
      panicThreshold: config.panicThreshold,
    });
    const p = registry.protection.forCluster(config, eps, protectionSeries(policy, config.name), {
      now: opts.now,
      timers: opts.timers,
      tls: () => {
        const source = upstreamTls(config, registry);
        return typeof source === 'function' ? source() : source;
      },
    });
    this.tcp = tcpConnector(config, registry);
    // A WebSocket upgrade replays its HTTP/1.1 handshake: inside mesh TLS it says so by ALPN.
    this.upgrade = config.mtls === undefined ? this.tcp : tcpConnector(config, registry, ['http/1.1']);
    this.gate = p.gate;
    this.outlier = p.outlier;
    this.healthChecker = p.healthChecker;
    this.adaptive = p.adaptive;
    if (config.protocol !== 'tcp')
      for (const ep of eps) this.transports.set(ep, registry.transportFor(config, ep, conns, p.budget));
  }

  /**
   * maxConcurrentRetries, for the retry layer (src/resilience). Contract: call tryStartRetry()
   * before sending a retry (not a first try); when it returns false, send no retry and answer with
   * the failure at hand (the overflow is already counted, as Envoy's upstream_rq_retry_overflow).
   * When it returns true, call endRetry() exactly once when that retry ends, however it ends
   * (answer, error, cancel). The retry itself still passes dispatch()'s admission like any request.
   * Overflow answers (code TRELLIS_OVERFLOW, 503 + x-trellis-overloaded) should not be retried.
   */
  tryStartRetry(): boolean {
    return this.gate.tryStartRetry();
  }

  endRetry(): void {
    this.gate.endRetry();
  }

  /** The endpoint for a request (or a TCP connection when headers is empty). */
  pick(headers: HeaderList, sourceAddress: string): LbEndpoint | undefined {
    const hash = this.config.lb.hash;
    return this.balancer.pick(hash ? hashKeyFor(hash, headers, sourceAddress) : undefined);
  }

  /**
   * Sends the request to the endpoint the balancer picks. A retry or hedge (src/resilience) marks
   * its try's request with the endpoints already tried: another one is preferred then, and the
   * one used is appended.
   */
  readonly dispatch: Dispatch = (
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
  ): Cancel => {
    const refused = this.gate.admit();
    if (refused !== null) {
      handler.onResponseError(refused);
      return noop;
    }
    let ep = this.pick(req.headers, req.source.address);
    const tried = (req as TriedEndpoints)[kTriedEndpoints];
    if (tried !== undefined) {
      if (ep !== undefined && tried.includes(ep)) ep = this.untried(req, tried) ?? ep;
      if (ep !== undefined) tried.push(ep);
    }
    const transport = ep && this.transports.get(ep);
    if (ep === undefined || transport === undefined) {
      this.gate.release();
      handler.onResponseError(NoHealthyEndpointError(this.name));
      return noop;
    }
    (req as UpstreamObserved)[kUpstreamObserver]?.upstreamPicked(this, ep);
    const exchange = new BalancedExchange(ep, handler, this);
    exchange.inner = transport.dispatch(req, body, exchange);
    return exchange.cancel;
  };

  private untried(req: ProxyRequest, tried: LbEndpoint[]): LbEndpoint | undefined {
    for (let i = 0; i < AVOID_PICKS; i++) {
      const ep = this.pick(req.headers, req.source.address);
      if (ep !== undefined && !tried.includes(ep)) return ep;
    }
    // Hash policies pick the same endpoint every time: the first healthy one not tried yet.
    for (const ep of this.transports.keys()) if (isAvailable(ep) && !tried.includes(ep)) return ep;
    return undefined;
  }
}

/** Extra balancer picks a retry makes to find an endpoint it has not tried. */
const AVOID_PICKS = 3;

const noop: Cancel = () => {};
