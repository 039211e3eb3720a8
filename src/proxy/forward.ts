// Routing and forwarding, the bottom of both stacks: route by authority, path, method,
// headers → pick a backend cluster by weight → count + time + route timeout → balance over the
// cluster's endpoints → upstream transport.
import { RouteNotFoundError, NoHealthyEndpointError } from '../errors.ts';
import type { MatchedRoute, Router } from '../route/index.ts';
import type { ClusterRuntime } from './cluster.ts';
import { RouteExchange } from './route-exchange.ts';
import type { Cancel, Dispatch, ProxyRequest, RequestBody, ResponseHandler } from './types.ts';
import type { ProxyStats, RequestStats } from '../metrics/proxy-stats.ts';

export interface StackEnv {
  listener: string;
  direction: 'inbound' | 'outbound';
  router: Router;
  clusters: ReadonlyMap<string, ClusterRuntime>;
  stats: ProxyStats;
}

const noop: Cancel = () => {};

/** Counters per (route, cluster), found without building a key string per request. */
export function statsLookup(env: StackEnv): (route: MatchedRoute, cluster: string) => RequestStats {
  const byRoute = new Map<MatchedRoute, Map<string, RequestStats>>();
  return (route, cluster) => {
    let m = byRoute.get(route);
    if (m === undefined) byRoute.set(route, (m = new Map()));
    let s = m.get(cluster);
    if (s === undefined) {
      s = env.stats.requestStats({
        direction: env.direction,
        listener: env.listener,
        route: route.name,
        cluster,
      });
      m.set(cluster, s);
    }
    return s;
  };
}

export function routeAndForward(env: StackEnv): Dispatch {
  const countersFor = statsLookup(env);
  return function forward(req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler): Cancel {
    const route = env.router.match(req);
    if (route === undefined) {
      handler.onResponseError(RouteNotFoundError(req.authority, req.path));
      return noop;
    }
    const clusterName = route.pickCluster();
    const cluster = clusterName === undefined ? undefined : env.clusters.get(clusterName);
    if (cluster === undefined) {
      handler.onResponseError(NoHealthyEndpointError(clusterName ?? route.name));
      return noop;
    }
    const exchange = new RouteExchange(
      handler,
      env.stats,
      countersFor(route, cluster.name),
      req.startTime,
      route.timeoutMs,
    );
    exchange.cancel = cluster.dispatch(req, body, exchange);
    return exchange.abort;
  };
}
