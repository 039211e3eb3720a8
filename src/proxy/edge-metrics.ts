// Edge metrics in the proxy (families in src/metrics/edge-stats.ts): who this proxy is (its node and
// certificate) and who is on the other side of each request or connection: on outbound the
// endpoint picked (its cluster's service, its app/version labels), on inbound the caller (its mTLS
// identity, and the peer metadata header its sidecar sent, see peer-metadata.ts). Every party is
// made when a config is compiled (self, each cluster and endpoint) or interned on first sight
// (callers, per identity and header value, capped), so requests build no labels.
import type { LbEndpoint } from '../balance/index.ts';
import type { ProxyError } from '../errors.ts';
import { grpcStatusForHttp } from '../http2/headers.ts';
import { parseSpiffeId } from '../identity/spiffe.ts';
import {
  GRPC_NONE,
  UNKNOWN,
  type EdgeParty,
  type EdgeRoute,
  type EdgeStats,
  type Reporter,
  type TcpSeries,
} from '../metrics/edge-stats.ts';
import type { PolicyStats, Series } from '../metrics/policy-stats.ts';
import type { ProxyStats } from '../metrics/proxy-stats.ts';
import type { ProxyConfig } from '../model/schema.ts';
import type { MeshTls } from '../tls/mesh-tls.ts';
import type { ConnectionSource } from '../tls/peer-identity.ts';
import { kUpstreamObserver, type ClusterRuntime, type UpstreamObserved } from './cluster.ts';
import type { RouteExchange } from './route-exchange.ts';
import { kSourcePeer, parsePeerHeader, type PeerMetadata, type WithSourcePeer } from './peer-metadata.ts';
import type { ProxyRequest, RequestBody } from './types.ts';

export type DenialReason = 'rbac' | 'jwt' | 'mtls_required';

/** The destination labels of one cluster: the service as a whole, and each endpoint's workload. */
export interface EdgeDestinations {
  readonly cluster: ClusterRuntime;
  readonly service: EdgeParty;
  readonly endpoints: ReadonlyMap<LbEndpoint, EdgeParty>;
}

/** Distinct (identity, header value) pairs one reporter remembers; the rest count as unknown. */
const MAX_HEADER_PEERS = 1000;

/** One direction of one config: the proxy as reporter of what crosses its listeners that way. */
export class EdgeReporter {
  readonly reporter: Reporter;
  /** telemetry.metrics.enabled; when false the edge families get nothing (denials are still counted). */
  readonly enabled: boolean;
  readonly self: EdgeParty;
  /** The x-trellis-peer value this proxy sends to the mesh peers it calls (peer-metadata.ts). */
  readonly peerHeader: string;
  readonly #stats: EdgeStats;
  readonly #policy: PolicyStats;
  /** Made on the first denial: a proxy that never refuses exports no denial series. */
  readonly #denied = new Map<DenialReason, Series>();
  readonly #unknownRoute: EdgeRoute;
  readonly #destinations = new WeakMap<ClusterRuntime, EdgeDestinations>();
  /** Callers by identity ('' for none), and by identity then peer header value. */
  readonly #byIdentity = new Map<string, EdgeParty>();
  readonly #byHeader = new Map<string, Map<string, EdgeParty>>();
  #headerPeers = 0;

  constructor(reporter: Reporter, config: ProxyConfig, stats: ProxyStats, meshTls: MeshTls | undefined) {
    this.reporter = reporter;
    this.enabled = config.telemetry.metrics.enabled;
    this.#stats = stats.edge;
    const n = config.node;
    const workload = n.workload ?? UNKNOWN;
    const version = n.version ?? UNKNOWN;
    const principal = meshTls?.spiffeId ?? UNKNOWN;
    this.self = this.#stats.party(
      reporter === 'source'
        ? {
            source_workload: workload,
            source_namespace: n.namespace,
            source_version: version,
            source_principal: principal,
          }
        : {
            destination_service: n.service === undefined ? UNKNOWN : `${n.service}.${n.namespace}`,
            destination_namespace: n.namespace,
            destination_workload: workload,
            destination_version: version,
            destination_principal: principal,
          },
    );
    this.peerHeader = `workload=${workload};namespace=${n.namespace};version=${version}`;
    this.#unknownRoute = this.#stats.route(reporter, this.self, UNKNOWN);
    this.#policy = stats.policy;
  }

  /** The route's counters for this reporter; call when compiling a route. */
  route(name: string): EdgeRoute {
    return this.#stats.route(this.reporter, this.self, name);
  }

  /** The destination labels of a cluster's endpoints; compile time, or once per TCP connection. */
  destinations(cluster: ClusterRuntime): EdgeDestinations {
    let d = this.#destinations.get(cluster);
    if (d !== undefined) return d;
    const c = cluster.config;
    const ids = c.mtls?.identities ?? [];
    const base = {
      destination_service: c.service === undefined ? c.name : `${c.service.name}.${c.service.namespace}`,
      destination_namespace: c.service?.namespace ?? UNKNOWN,
      // With several service accounts behind a service, which one answered is not known here.
      destination_principal: ids.length === 1 ? ids[0]! : UNKNOWN,
      mtls: c.mtls === undefined ? 'false' : 'true',
    };
    const endpoints = new Map<LbEndpoint, EdgeParty>();
    // ClusterRuntime.endpoints follows the config's endpoint order (reconcileEndpoints maps it).
    c.endpoints.forEach((e, i) => {
      const ep = cluster.endpoints[i];
      if (ep === undefined) return;
      const { app, version } = e.labels;
      const workload = app === undefined ? UNKNOWN : version === undefined ? app : `${app}-${version}`;
      endpoints.set(
        ep,
        this.#stats.party({
          ...base,
          destination_workload: workload,
          destination_version: version ?? UNKNOWN,
        }),
      );
    });
    const service = this.#stats.party({
      ...base,
      destination_workload: UNKNOWN,
      destination_version: UNKNOWN,
    });
    d = { cluster, service, endpoints };
    this.#destinations.set(cluster, d);
    return d;
  }

  /** Inbound: the caller of a request (what the peer layer found, else its mTLS identity alone). */
  sourceOf(req: ProxyRequest): EdgeParty {
    return (req as WithSourcePeer)[kSourcePeer] ?? this.sourceByIdentity(req.source.identity);
  }

  sourceByIdentity(identity: string | undefined): EdgeParty {
    const p = this.#byIdentity.get(identity ?? '');
    if (p !== undefined) return p;
    const made = this.#stats.boundedParty(sourceLabels(identity, undefined));
    if (made === undefined) return this.#foldedSource(identity);
    this.#byIdentity.set(identity ?? '', made);
    return made;
  }

  /** The caller named by a peer metadata header, on top of what its identity proves. */
  sourceByHeader(identity: string | undefined, value: string): EdgeParty {
    let byValue = this.#byHeader.get(identity ?? '');
    const known = byValue?.get(value);
    if (known !== undefined) return known;
    if (this.#headerPeers >= MAX_HEADER_PEERS) return this.#foldedSource(identity);
    const made = this.#stats.boundedParty(sourceLabels(identity, parsePeerHeader(value)));
    if (made === undefined) return this.#foldedSource(identity);
    if (byValue === undefined) this.#byHeader.set(identity ?? '', (byValue = new Map()));
    byValue.set(value, made);
    this.#headerPeers++;
    return made;
  }

  /**
   * Starts counting a routed request on `exchange`; returns the body to send (counted as it
   * streams when its length is not known up front). `targets`: the cluster's destinations.
   */
  track(
    exchange: RouteExchange,
    route: EdgeRoute,
    req: ProxyRequest,
    body: RequestBody | null,
    targets: EdgeDestinations | undefined,
  ): RequestBody | null {
    if (this.reporter === 'destination') {
      exchange.trackEdge(this.#stats, route, this.sourceOf(req), req, undefined);
    } else {
      if (targets === undefined) return body; // no such cluster: answered 503 before any count
      exchange.trackEdge(this.#stats, route, targets.service, req, targets);
      // The cluster tells the exchange which endpoint it picked (each try; the last one counts).
      (req as UpstreamObserved)[kUpstreamObserver] = exchange;
    }
    return body !== null && req.bodyLength < 0 ? exchange.countedBody(body) : body;
  }

  /** A request refused by inbound security (403 RBAC, 401 JWT), before any route. */
  readonly denied = (req: ProxyRequest, err: ProxyError, reason: DenialReason): void => {
    this.#deniedSeries(reason).value++;
    if (!this.enabled) return;
    const grpc = req.grpc ? grpcStatusForHttp(err.status) : GRPC_NONE;
    const latency = performance.now() - req.startTime;
    // Inbound security runs before routing: the route is unknown, the peer is the caller.
    const bytes = Math.max(req.bodyLength, 0);
    this.#stats.record(this.#unknownRoute, this.sourceOf(req), err.status, grpc, latency, bytes, 0);
  };

  /** A connection refused by inbound security: no client certificate, or its TCP authorization. */
  deniedConnection(reason: DenialReason): void {
    this.#deniedSeries(reason).value++;
  }

  /**
   * Counts a TCP connection (opaque TCP, CONNECT, WebSocket) to `ep` of `cluster` as opened and
   * returns its series for the bytes and the close; undefined when metrics are off. `caller`: the
   * request that opened it (a tunnel), or the connection's source.
   */
  tcpOpened(
    cluster: ClusterRuntime,
    ep: LbEndpoint,
    caller: ProxyRequest | ConnectionSource,
  ): TcpSeries | undefined {
    if (!this.enabled) return undefined;
    let peer: EdgeParty;
    if (this.reporter === 'source') {
      const d = this.destinations(cluster);
      peer = d.endpoints.get(ep) ?? d.service;
    } else {
      peer = 'headers' in caller ? this.sourceOf(caller) : this.sourceByIdentity(caller.identity);
    }
    const s = this.#stats.tcp(this.reporter, this.self, peer);
    s.opened++;
    return s;
  }

  #deniedSeries(reason: DenialReason): Series {
    let s = this.#denied.get(reason);
    if (s === undefined) {
      s = this.#policy.denied.series({ reporter: this.reporter, reason });
      this.#denied.set(reason, s);
    }
    return s;
  }

  #foldedSource(identity: string | undefined): EdgeParty {
    this.#stats.overflow++;
    return this.#stats.party({ mtls: identity === undefined ? 'false' : 'true' });
  }
}

export interface EdgeReporters {
  inbound: EdgeReporter;
  outbound: EdgeReporter;
}

export function compileEdgeReporters(
  config: ProxyConfig,
  stats: ProxyStats,
  meshTls: MeshTls | undefined,
): EdgeReporters {
  return {
    inbound: new EdgeReporter('destination', config, stats, meshTls),
    outbound: new EdgeReporter('source', config, stats, meshTls),
  };
}

function sourceLabels(
  identity: string | undefined,
  header: PeerMetadata | undefined,
): Record<string, string> {
  const id = identity === undefined ? undefined : parseSpiffeId(identity);
  // A certificate's namespace wins; a header's is taken only from a caller without one.
  const namespace = id?.namespace ?? (identity === undefined ? header?.namespace : undefined);
  return {
    source_workload: header?.workload ?? UNKNOWN,
    source_namespace: namespace ?? UNKNOWN,
    source_version: header?.version ?? UNKNOWN,
    source_principal: identity ?? UNKNOWN,
    mtls: identity === undefined ? 'false' : 'true',
  };
}
