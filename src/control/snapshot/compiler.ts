// Lowers resources and registered workloads into one proxy's snapshot (the internal model).
// Most of a snapshot is the outbound side (route table + clusters), which depends only on the
// proxy's namespace and scope: it is built once per (namespace, scope) and shared by every proxy
// asking for it, so 2,000 proxies over 1,000 services cost a few outbound builds, not 2,000.
import { createHash } from 'node:crypto';
import type { Cluster, ProxyConfig, VirtualHost } from '../../model/schema.ts';
import {
  buildServiceCatalog,
  byTargetService,
  resolveServiceRef,
  serviceKey,
  type MeshService,
  type Precedence,
  type ServiceId,
} from '../../resources/catalog.ts';
import type {
  ServiceResource,
  TrafficPolicyResource,
  TrafficRouteResource,
  WorkloadProtocol,
  WorkloadResource,
} from '../../resources/kinds.ts';
import type { InboundSecurity, MtlsMode } from '../../model/security.ts';
import { TELEMETRY_DEFAULTS, type TelemetryConfig } from '../../model/telemetry.ts';
import type { ListenerInterception, MeshDns } from '../../model/interception.ts';
import { serviceCluster } from './clusters.ts';
import { interceptionPart, type MeshInterception, type Passthrough } from './interception.ts';
import { localParts, OUTBOUND_LISTENER, OUTBOUND_ROUTE_TABLE } from './local.ts';
import { serviceRoutes, serviceVirtualHost, type ServiceRoutes } from './outbound.ts';

export interface MeshState {
  services: ServiceResource[];
  workloads: WorkloadResource[];
  routes: TrafficRouteResource[];
  policies: TrafficPolicyResource[];
}

export interface ProxyTarget {
  /** The proxy's own workload. */
  workload: WorkloadResource;
}

export interface SnapshotOptions {
  /** The snapshot's version; default: a hash of its content. */
  version?: string;
  /** Services the proxy calls (`name`, relative to its namespace, or `name.ns`); default: all. */
  scope?: string[];
  /**
   * The proxy intercepts transparently: its outbound listener gets the original destinations and
   * the snapshot the mesh DNS names. Others do without (they would only carry ~25 % more bytes).
   */
  transparent?: boolean;
}

/** The outbound side shared by proxies of one namespace and scope. Never mutate: it is shared. */
interface OutboundPart {
  virtualHosts: VirtualHost[];
  clusters: Cluster[];
  hash: string;
  /** Transparent interception, when the compiler has a MeshInterception. */
  intercept?: {
    dns: MeshDns;
    /** The outbound listener's `interception`, one object per passthrough mode. */
    listener: Map<Passthrough, ListenerInterception>;
    /** Of destinations and dns: only transparent proxies' versions depend on it. */
    hash: string;
  };
}

/** Mesh mTLS and inbound policy, when the control plane runs a CA (the default). */
export interface MeshSecurity {
  trustDomain: string;
  /** PEM roots every proxy trusts (two during a root rotation). */
  trustBundle: string;
  /** Inbound mTLS mode and policies of one workload (PeerAuthentication, AuthorizationPolicy, …). */
  forWorkload(w: WorkloadResource): WorkloadInboundSecurity;
}

export interface WorkloadInboundSecurity {
  mtls: MtlsMode;
  inbound: InboundSecurity;
}

/** Metrics, tracing and access logs per workload (Istio's Telemetry); default: TELEMETRY_DEFAULTS. */
export interface MeshTelemetry {
  forWorkload(w: WorkloadResource): TelemetryConfig;
}

export interface SnapshotCompiler {
  compile(target: ProxyTarget, opts?: SnapshotOptions): ProxyConfig;
}

function sha256(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

class CachingSnapshotCompiler implements SnapshotCompiler {
  private readonly catalog: Map<string, MeshService>;
  private readonly routes: Map<string, Precedence<TrafficRouteResource>>;
  private readonly policies: Map<string, Precedence<TrafficPolicyResource>>;
  // Per service, built on first use and shared by every outbound part that includes it.
  private readonly serviceRouteCache = new Map<string, ServiceRoutes>();
  private readonly clusterCache = new Map<string, Cluster>();
  private readonly vhostCache = new Map<string, VirtualHost>();
  private readonly outboundCache = new Map<string, OutboundPart>();

  private readonly security: MeshSecurity | undefined;
  private readonly telemetry: MeshTelemetry | undefined;
  private readonly interception: MeshInterception | undefined;

  constructor(
    state: MeshState,
    security: MeshSecurity | undefined,
    telemetry?: MeshTelemetry,
    interception?: MeshInterception,
  ) {
    this.security = security;
    this.telemetry = telemetry;
    this.interception = interception;
    this.catalog = buildServiceCatalog(state.services, state.workloads);
    this.routes = byTargetService(state.routes);
    this.policies = byTargetService(state.policies);
  }

  compile(target: ProxyTarget, opts: SnapshotOptions = {}): ProxyConfig {
    const w = target.workload;
    const outbound = this.outbound(w.metadata.namespace, opts.scope);
    const local = localParts(w, this.security?.forWorkload(w));
    const telemetry = this.telemetry?.forWorkload(w) ?? TELEMETRY_DEFAULTS;
    // Interception lives on the outbound listener: a proxy without one gets neither part.
    const passthrough = this.interception?.passthroughFor(w) ?? 'allow';
    const intercept =
      opts.transparent === true && local.listeners.some((l) => l.name === OUTBOUND_LISTENER)
        ? outbound.intercept
        : undefined;
    const interception = intercept?.listener.get(passthrough);
    const body = {
      node: local.node,
      admin: local.admin,
      drainTimeout: local.drainTimeout,
      listeners:
        interception === undefined
          ? local.listeners
          : local.listeners.map((l) => (l.name === OUTBOUND_LISTENER ? { ...l, interception } : l)),
      routeTables: [
        { name: OUTBOUND_ROUTE_TABLE, virtualHosts: outbound.virtualHosts },
        ...local.routeTables,
      ],
      clusters: [...local.clusters, ...outbound.clusters],
      inboundSecurity: local.inboundSecurity,
      telemetry,
      ...(this.security === undefined ? {} : { secrets: { trustBundle: this.security.trustBundle } }),
      ...(intercept === undefined ? {} : { dns: intercept.dns }),
    };
    // The shared part is hashed once; each proxy hashes only its own small part on top.
    const own = telemetry === TELEMETRY_DEFAULTS ? [] : [JSON.stringify(telemetry)];
    if (intercept !== undefined) own.push(intercept.hash, `passthrough:${passthrough}`);
    const version = opts.version ?? sha256(outbound.hash, JSON.stringify(local), ...own).slice(0, 16);
    return { version, ...body };
  }

  private outbound(namespace: string, scope: string[] | undefined): OutboundPart {
    const keys =
      scope === undefined
        ? [...this.catalog.keys()]
        : [...new Set(scope.map((ref) => serviceKey(resolveServiceRef(ref, namespace))))]
            .filter((k) => this.catalog.has(k))
            .sort();
    const cacheKey = `${namespace}\n${scope === undefined ? '*' : keys.join(',')}`;
    const cached = this.outboundCache.get(cacheKey);
    if (cached !== undefined) return cached;

    const virtualHosts: VirtualHost[] = [];
    // Cluster key → the protocol to give it should the service not exist (that of its first caller).
    const clusterKeys = new Map<string, { id: ServiceId; protocol: WorkloadProtocol }>();
    for (const key of keys) {
      const svc = this.catalog.get(key)!;
      const routes = this.serviceRoutes(svc);
      virtualHosts.push(this.virtualHost(svc, namespace, routes));
      if (!clusterKeys.has(key)) clusterKeys.set(key, { id: svc, protocol: svc.protocol });
      for (const t of routes.targets) {
        const tk = serviceKey(t);
        if (!clusterKeys.has(tk)) clusterKeys.set(tk, { id: t, protocol: svc.protocol });
      }
    }
    const clusters = [...clusterKeys]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, { id, protocol }]) => this.cluster(key, id, protocol));
    const part: OutboundPart = { virtualHosts, clusters, hash: '' };
    if (this.interception !== undefined) {
      const visible = keys.map((k) => this.catalog.get(k)!);
      const { destinations, dns } = interceptionPart(visible, namespace, this.interception);
      const listener = new Map<Passthrough, ListenerInterception>([
        ['allow', { destinations, passthrough: 'allow' }],
        ['deny', { destinations, passthrough: 'deny' }],
      ]);
      part.intercept = { dns, listener, hash: sha256(JSON.stringify({ destinations, dns })) };
    }
    part.hash = sha256(JSON.stringify({ virtualHosts, clusters }));
    this.outboundCache.set(cacheKey, part);
    return part;
  }

  private serviceRoutes(svc: MeshService): ServiceRoutes {
    let r = this.serviceRouteCache.get(svc.key);
    if (r === undefined) {
      r = serviceRoutes(svc, this.routes.get(svc.key)?.winner);
      this.serviceRouteCache.set(svc.key, r);
    }
    return r;
  }

  /** Two variants per service: with the short name (proxy in its namespace) and without. */
  private virtualHost(svc: MeshService, namespace: string, routes: ServiceRoutes): VirtualHost {
    const local = svc.namespace === namespace;
    const key = `${svc.key}\n${local}`;
    let vh = this.vhostCache.get(key);
    if (vh === undefined) {
      vh = serviceVirtualHost(svc, namespace, routes.routes);
      this.vhostCache.set(key, vh);
    }
    return vh;
  }

  private cluster(key: string, id: ServiceId, protocol: WorkloadProtocol): Cluster {
    const svc = this.catalog.get(key);
    // A missing service's cluster takes its caller's protocol; cache it per protocol.
    const cacheKey = svc === undefined ? `${key}\n${protocol}` : key;
    let c = this.clusterCache.get(cacheKey);
    if (c === undefined) {
      c = serviceCluster(
        id,
        svc,
        svc?.protocol ?? protocol,
        this.policies.get(key)?.winner,
        this.security?.trustDomain,
      );
      this.clusterCache.set(cacheKey, c);
    }
    return c;
  }
}

/**
 * A compiler for one state of the mesh. Build a new one when the state changes; snapshots it
 * returns share their outbound parts with each other, so treat them as read-only.
 */
export function createSnapshotCompiler(
  state: MeshState,
  security?: MeshSecurity,
  telemetry?: MeshTelemetry,
  interception?: MeshInterception,
): SnapshotCompiler {
  return new CachingSnapshotCompiler(state, security, telemetry, interception);
}

export function compileSnapshot(
  state: MeshState,
  target: ProxyTarget,
  opts?: SnapshotOptions,
  security?: MeshSecurity,
  telemetry?: MeshTelemetry,
  interception?: MeshInterception,
): ProxyConfig {
  return createSnapshotCompiler(state, security, telemetry, interception).compile(target, opts);
}
