// The control plane's view of a mesh written in several dialects, as native resources: what the
// snapshot compiler reads. Pure and deterministic: the same stored resources give the same state
// and warnings whatever order they were applied or listed in.
import type { MeshState } from '../control/snapshot/compiler.ts';
import { buildServiceCatalog, serviceKey } from '../resources/catalog.ts';
import type { ServiceResource, TrafficPolicyResource, TrafficRouteResource } from '../resources/kinds.ts';
import {
  byNamespaceName,
  Warnings,
  type DialectWarning,
  type LowerContext,
  type Origin,
  type RouteCandidate,
  type ServiceCandidate,
} from './common/lowering.ts';
import type { ExternalService } from './external.ts';
import { lowerGatewayRoutes } from './gateway/lower.ts';
import { IstioContext } from './istio/context.ts';
import { lowerDestinationRules } from './istio/destination-rule.ts';
import { lowerServiceEntries } from './istio/service-entry.ts';
import { lowerSidecars, type ScopeRule } from './istio/sidecar.ts';
import { lowerVirtualService } from './istio/virtual-service.ts';
import { lowerServiceProfile } from './linkerd/service-profile.ts';
import { pickPolicies, pickRoutes } from './precedence.ts';
import { securityWarnings } from './security.ts';
import { lowerTrafficSplit } from './smi/traffic-split.ts';
import { telemetryWarnings } from './telemetry.ts';
import type { DialectResource } from './types.ts';

export interface LoweredMesh {
  /** Stored native resources plus the lowered ones. */
  state: MeshState;
  warnings: DialectWarning[];
  /** Where each route of a lowered TrafficRoute came from. */
  routeOrigins: Map<TrafficRouteResource, Origin[]>;
  /** Where each lowered TrafficPolicy came from. */
  policyOrigins: Map<TrafficPolicyResource, Origin>;
  /** ServiceEntry names and endpoints (see external.ts). */
  externals: ExternalService[];
  /** Sidecar scopes (see istio/sidecar.ts). */
  scopes: ScopeRule[];
}

type ByKind = { [K in DialectResource['kind']]: Extract<DialectResource, { kind: K }>[] };

function byKind(dialects: readonly DialectResource[]): ByKind {
  const out: ByKind = {
    VirtualService: [],
    DestinationRule: [],
    ServiceEntry: [],
    Sidecar: [],
    TrafficSplit: [],
    HTTPRouteGroup: [],
    TCPRoute: [],
    HTTPRoute: [],
    GRPCRoute: [],
    ServiceProfile: [],
    PeerAuthentication: [],
    AuthorizationPolicy: [],
    RequestAuthentication: [],
    TrafficTarget: [],
    Telemetry: [],
  };
  for (const r of [...dialects].sort(byNamespaceName)) (out[r.kind] as DialectResource[]).push(r);
  return out;
}

function index<R extends DialectResource>(list: readonly R[]): Map<string, R> {
  return new Map(list.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
}

/** Synthesized Services that do not clash with a service that exists; the first of two wins. */
function addServices(
  stored: MeshState,
  candidates: readonly ServiceCandidate[],
  warnings: Warnings,
): ServiceResource[] {
  const taken = new Set(buildServiceCatalog(stored.services, stored.workloads).keys());
  const out: ServiceResource[] = [];
  for (const c of candidates) {
    const key = serviceKey(c.service.metadata);
    if (taken.has(key)) {
      warnings.warn(c.source, 'spec', `service ${key} already exists; the one stored is used`);
      continue;
    }
    taken.add(key);
    out.push(c.service);
  }
  return out;
}

export interface LowerOptions {
  /** Istio's root namespace (mesh-wide security policies and Telemetry); default istio-system. */
  rootNamespace?: string;
}

export function lowerMeshState(
  stored: MeshState & { dialects: readonly DialectResource[] },
  opts: LowerOptions = {},
): LoweredMesh {
  const warnings = new Warnings();
  const ctx: LowerContext = { catalog: buildServiceCatalog(stored.services, stored.workloads), warnings };
  const k = byKind(stored.dialects);
  const istio = new IstioContext(ctx);
  // Entries first (they add hosts), then rules (subsets), then what routes to them.
  const entries = lowerServiceEntries(k.ServiceEntry, istio);
  const rules = lowerDestinationRules(k.DestinationRule, istio);
  const groups = index(k.HTTPRouteGroup);
  const tcpRoutes = index(k.TCPRoute);
  const routes: RouteCandidate[] = [
    ...lowerGatewayRoutes(k.HTTPRoute, k.GRPCRoute, ctx),
    ...k.VirtualService.flatMap((vs) => lowerVirtualService(vs, istio)),
    ...k.TrafficSplit.flatMap((ts) => lowerTrafficSplit(ts, groups, tcpRoutes, ctx) ?? []),
    ...k.ServiceProfile.flatMap((sp) => lowerServiceProfile(sp, ctx) ?? []),
  ];
  const services = addServices(stored, [...entries.services, ...rules.services], warnings);
  const pickedRoutes = pickRoutes(stored.routes, routes, warnings);
  const pickedPolicies = pickPolicies(stored.policies, rules.policies, warnings);
  const state: MeshState = {
    services: [...stored.services, ...services],
    workloads: stored.workloads,
    routes: [...stored.routes, ...pickedRoutes.map(([r]) => r)],
    policies: [...stored.policies, ...pickedPolicies.map(([p]) => p)],
  };
  const routeOrigins = new Map(pickedRoutes.map(([r, c]) => [r, c.origins]));
  const policyOrigins = new Map(
    pickedPolicies.map(([p, c]) => [p, { resource: c.sources[0]!, path: c.path }]),
  );
  const kept = new Set(services.map((s) => serviceKey(s.metadata)));
  const externals = entries.externals.filter((e) => kept.has(serviceKey(e.service)));
  const catalog = buildServiceCatalog(state.services, state.workloads);
  const scopes = lowerSidecars(k.Sidecar, catalog, externals, ctx);
  // Security is lowered per workload when a proxy's snapshot is compiled (securityFor); here
  // only what it warns about, so `trellis apply` and `trellis analyze` report it.
  securityWarnings(stored.dialects, stored.workloads, opts, warnings);
  // Telemetry likewise, per workload when compiling (telemetryFor).
  telemetryWarnings(stored.dialects, stored.workloads, opts, warnings);
  return { state, warnings: warnings.list, routeOrigins, policyOrigins, externals, scopes };
}
