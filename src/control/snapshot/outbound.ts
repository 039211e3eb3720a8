// The outbound route table: one virtual host per service, named by the names a Kubernetes client
// would resolve, routing to service clusters.
import type { Route, VirtualHost } from '../../model/schema.ts';
import { resolveServiceRef, serviceKey, type ServiceId } from '../../resources/catalog.ts';
import type { TrafficRouteResource } from '../../resources/kinds.ts';
import { outboundClusterName } from './clusters.ts';

/**
 * `name.ns`, `name.ns.svc`, `name.ns.svc.cluster.local`, and the bare `name` only for a proxy in
 * the same namespace (the resolver's search path). No `name:port` domains: the router tries an
 * authority with its port and then without it (src/route/domains.ts), so `reviews:9080` and a
 * CONNECT to `reviews:9080` already reach `reviews`, and one service has one route set.
 */
export function serviceDomains(id: ServiceId, proxyNamespace: string): string[] {
  const full = serviceKey(id);
  const names = [full, `${full}.svc`, `${full}.svc.cluster.local`];
  return id.namespace === proxyNamespace ? [id.name, ...names] : names;
}

export interface ServiceRoutes {
  routes: Route[];
  /** Services the routes send to, each once, in order of first use. */
  targets: ServiceId[];
}

/** The service's TrafficRoute lowered to model routes, or one catch-all route to its own cluster. */
export function serviceRoutes(id: ServiceId, traffic: TrafficRouteResource | undefined): ServiceRoutes {
  if (traffic === undefined) {
    return {
      routes: [
        {
          name: 'default',
          match: { path: { prefix: '/' }, headers: [], query: [] },
          backends: [{ cluster: outboundClusterName(id), weight: 1 }],
        },
      ],
      targets: [id],
    };
  }
  const targets = new Map<string, ServiceId>();
  const clusterOf = (service: string): string => {
    // Relative to the TrafficRoute's namespace, as Kubernetes resolves names in its objects.
    const target = resolveServiceRef(service, traffic.metadata.namespace);
    targets.set(serviceKey(target), target);
    return outboundClusterName(target);
  };
  const routes = traffic.spec.routes.map((r): Route => {
    const { backends, mirrors, ...policies } = r;
    const route: Route = {
      ...policies,
      backends: backends.map((b) => ({ cluster: clusterOf(b.service), weight: b.weight })),
    };
    if (mirrors !== undefined)
      route.mirrors = mirrors.map((m) => ({ cluster: clusterOf(m.service), percent: m.percent }));
    // Absent stays absent, so snapshots are byte-identical to what they were before these fields existed.
    for (const k of Object.keys(route) as (keyof Route)[]) if (route[k] === undefined) delete route[k];
    return route;
  });
  return { routes, targets: [...targets.values()] };
}

export function serviceVirtualHost(id: ServiceId, proxyNamespace: string, routes: Route[]): VirtualHost {
  return { name: serviceKey(id), domains: serviceDomains(id, proxyNamespace), routes };
}
