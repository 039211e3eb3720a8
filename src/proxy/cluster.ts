// A cluster at run time: its balancer over endpoints and one transport per endpoint. Transports
// (connection pools, HTTP/2 sessions) outlive configs: a reload that keeps an endpoint keeps its
// warm connections; the ones no config uses any more are closed once their requests finish.
import type tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { NoHealthyEndpointError, type ProxyError } from '../errors.ts';
import {
  createBalancer,
  hashKeyFor,
  onRequestEnd,
  onRequestStart,
  reconcileEndpoints,
  type Balancer,
  type LbEndpoint,
} from '../balance/index.ts';
import { Http1Upstream } from '../http1/upstream-pool.ts';
import { createHttp2Upstream } from '../http2/upstream.ts';
import type { Cluster } from '../model/schema.ts';
import { connectionClosed, connectionOpened, type ConnectionStats } from '../metrics/proxy-stats.ts';
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

  transportFor(cluster: Cluster, ep: LbEndpoint, conns: ConnectionStats): Transport {
    const key = `${cluster.protocol}|${ep.key}|${cluster.tls ? JSON.stringify(cluster.tls) : ''}`;
    let t = this.transports.get(key);
    if (t === undefined) {
      t = createTransport(cluster, ep, conns);
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

  /** Call before compiling a config; then `sweep()` closes what the new config no longer uses. */
  beginGeneration(): void {
    this.inUse = new Set();
  }

  sweep(): void {
    for (const [key, t] of this.transports) {
      if (!this.inUse.has(key)) {
        t.close();
        this.transports.delete(key);
      }
    }
  }

  closeAll(): void {
    for (const t of this.transports.values()) t.close();
    this.transports.clear();
  }
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

function createTransport(cluster: Cluster, ep: LbEndpoint, conns: ConnectionStats): Transport {
  const target = { address: ep.address, port: ep.port };
  const onConnectionCount = (delta: number): void =>
    delta > 0 ? connectionOpened(conns) : connectionClosed(conns);
  if (cluster.protocol === 'http2' || cluster.protocol === 'grpc') {
    const tlsOpts = tlsOptions(cluster);
    const up = createHttp2Upstream(target, {
      connectTimeoutMs: cluster.connectTimeout,
      idleTimeoutMs: cluster.pool.idleTimeout,
      onConnectionCount,
      ...(tlsOpts ? { tls: { ...tlsOpts, ALPNProtocols: ['h2'] } } : {}),
    });
    return { dispatch: up.dispatch, close: () => void up.close() };
  }
  const pool = new Http1Upstream(target, {
    connectTimeoutMs: cluster.connectTimeout,
    maxIdle: cluster.pool.maxIdlePerEndpoint,
    idleTimeoutMs: cluster.pool.idleTimeout,
    tls: tlsOptions(cluster),
    onConnectionCount,
  });
  return { dispatch: pool.dispatch, close: () => pool.close() };
}

/** Feeds the balancer's load signals: in-flight until the end, latency to the first byte. */
class BalancedExchange implements ResponseHandler {
  private readonly ep: LbEndpoint;
  private readonly next: ResponseHandler;
  private readonly start = performance.now();
  private firstByteMs = 0;
  private failed = false;
  private ended = false;
  /** The transport's cancel; set right after dispatch. */
  inner: Cancel | null = null;

  constructor(ep: LbEndpoint, next: ResponseHandler) {
    this.ep = ep;
    this.next = next;
    onRequestStart(ep);
  }

  onInformational(status: number, headers: HeaderList): void {
    this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.failed = status >= 500;
    this.firstByteMs = performance.now() - this.start;
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
    this.end(performance.now() - this.start, true);
    this.next.onResponseError(err);
  }

  /** Cancelled from downstream: no more callbacks come, so release the endpoint here. */
  readonly cancel: Cancel = (reason) => {
    if (this.ended) return;
    // The client left; that says nothing about the endpoint's health or speed.
    this.end(this.firstByteMs || performance.now() - this.start, false);
    this.inner?.(reason);
  };

  private end(latencyMs: number, failed: boolean): void {
    if (this.ended) return;
    this.ended = true;
    onRequestEnd(this.ep, latencyMs, failed);
  }
}

export class ClusterRuntime {
  readonly name: string;
  readonly config: Cluster;
  private readonly balancer: Balancer;
  private readonly transports = new Map<LbEndpoint, Transport>();

  constructor(config: Cluster, registry: TransportRegistry, conns: ConnectionStats) {
    this.name = config.name;
    this.config = config;
    const eps = registry.endpointsFor(config);
    this.balancer = createBalancer(
      config.lb.policy,
      eps,
      config.lb.tableSize ? { tableSize: config.lb.tableSize } : {},
    );
    if (config.protocol !== 'tcp')
      for (const ep of eps) this.transports.set(ep, registry.transportFor(config, ep, conns));
  }

  /** The endpoint for a request (or a TCP connection when headers is empty). */
  pick(headers: HeaderList, sourceAddress: string): LbEndpoint | undefined {
    const hash = this.config.lb.hash;
    return this.balancer.pick(hash ? hashKeyFor(hash, headers, sourceAddress) : undefined);
  }

  readonly dispatch: Dispatch = (
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
  ): Cancel => {
    const ep = this.pick(req.headers, req.source.address);
    const transport = ep && this.transports.get(ep);
    if (ep === undefined || transport === undefined) {
      handler.onResponseError(NoHealthyEndpointError(this.name));
      return noop;
    }
    const exchange = new BalancedExchange(ep, handler);
    exchange.inner = transport.dispatch(req, body, exchange);
    return exchange.cancel;
  };
}

const noop: Cancel = () => {};
