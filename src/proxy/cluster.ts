// A cluster at run time: its balancer over endpoints and one transport per endpoint. Transports
// (connection pools, HTTP/2 sessions; src/proxy/transports.ts) outlive configs: a reload that keeps an endpoint keeps its
// warm connections; the ones no config uses any more are closed once their requests finish.
// The cluster also protects its endpoints (src/protection): limits checked before a pick, outlier
// detection and adaptive concurrency fed by every answer, health checks; their state and timers
// outlive configs the same way.
import { NoHealthyEndpointError, type ProxyError } from '../errors.ts';
import {
  createBalancer,
  hashKeyFor,
  isAvailable,
  onRequestAbandoned,
  onRequestEnd,
  onRequestStart,
  type Balancer,
  type LbEndpoint,
} from '../balance/index.ts';
import type { Cluster } from '../model/schema.ts';
import type { PolicyStats } from '../metrics/policy-stats.ts';
import type { ConnectionStats } from '../metrics/proxy-stats.ts';
import type { AdaptiveConcurrency } from '../protection/adaptive-concurrency.ts';
import type { ClusterGate } from '../protection/cluster-gate.ts';
import type { HealthChecker } from '../protection/health-check.ts';
import { GATEWAY_FAILURE, isEndpointFailure, type OutlierDetector } from '../protection/outlier.ts';
import { protectionSeries } from '../protection/stats.ts';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from './types.ts';
import {
  tcpConnector,
  upstreamTls,
  type TcpConnector,
  type Transport,
  type TransportRegistry,
} from './transports.ts';

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
