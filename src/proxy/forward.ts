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
  counters: RouteCounters;
}

const noop: Cancel = () => {};

/**
 * The counters of one listener's routes, one per (route, backend cluster), made when the config
 * is compiled so that every route is exported (and kept across reloads) before its first request,
 * and found per request without building a key string.
 */
export class RouteCounters {
  private readonly byRoute = new Map<MatchedRoute, Map<string, RequestStats>>();
  /** Every counter of this listener, for ProxyStats.retainOnly after a swap. */
  readonly all: RequestStats[] = [];
  private readonly stats: ProxyStats;
  private readonly labels: { direction: 'inbound' | 'outbound'; listener: string };

  constructor(stats: ProxyStats, direction: 'inbound' | 'outbound', listener: string, router: Router) {
    this.stats = stats;
    this.labels = { direction, listener };
    for (const route of router.routes) for (const b of route.config.backends) this.get(route, b.cluster);
  }

  get(route: MatchedRoute, cluster: string): RequestStats {
    let m = this.byRoute.get(route);
    if (m === undefined) this.byRoute.set(route, (m = new Map()));
    let s = m.get(cluster);
    if (s === undefined) {
      s = this.stats.requestStats({ ...this.labels, route: route.name, cluster });
      m.set(cluster, s);
      this.all.push(s);
    }
    return s;
  }
}

export function routeAndForward(env: StackEnv): Dispatch {
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
      env.counters.get(route, cluster.name),
      req.startTime,
      route.timeoutMs,
    );
    exchange.cancel = cluster.dispatch(req, body, exchange);
    return exchange.abort;
  };
}
