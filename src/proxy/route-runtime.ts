// Each route, compiled into its own pipeline once per config: the route's request layers (CORS,
// redirect, rate limit, faults, header and URL changes, mirroring) → pick the backend cluster by
// weight → count + time the request (RouteExchange) → the attempt layers (retries, hedging) →
// the cluster (limits, balancing, outlier detection) → the transport. A route that uses no
// policy pays for no layer.
import { NoHealthyEndpointError } from '../errors.ts';
import type { MatchedRoute } from '../route/index.ts';
import type { ClusterRuntime } from './cluster.ts';
import type { EdgeDestinations } from './edge-metrics.ts';
import type { StackEnv } from './forward.ts';
import { RouteExchange } from './route-exchange.ts';
import { composeLayers, type Cancel, type Dispatch, type Layer } from './types.ts';

/** A layer around the whole request, before a backend is picked; undefined when the route does not use it. */
export type RequestLayerFactory = (route: MatchedRoute, env: StackEnv) => Layer | undefined;
/** A layer around the tries against the picked cluster (retries, hedging); undefined when unused. */
export type AttemptLayerFactory = (
  route: MatchedRoute,
  cluster: ClusterRuntime,
  env: StackEnv,
) => Layer | undefined;

export interface RouteLayers {
  request: RequestLayerFactory[];
  attempt: AttemptLayerFactory[];
}

const noop: Cancel = () => {};

function present(l: Layer | undefined): l is Layer {
  return l !== undefined;
}

export function compileRoute(route: MatchedRoute, env: StackEnv, layers: RouteLayers): Dispatch {
  const perCluster = new Map<string, Dispatch>();
  // Edge metrics (edge-metrics.ts): the route's counters, and each cluster's destination labels.
  const edge = env.edge?.enabled ? env.edge : undefined;
  const edgeRoute = edge?.route(route.name);
  const destinations = new Map<string, EdgeDestinations>();
  for (const b of route.config.backends) {
    const cluster = env.clusters.get(b.cluster);
    if (cluster === undefined || perCluster.has(b.cluster)) continue;
    const attempt = layers.attempt.map((f) => f(route, cluster, env)).filter(present);
    perCluster.set(b.cluster, composeLayers(attempt, cluster.dispatch));
    if (edge?.reporter === 'source') destinations.set(b.cluster, edge.destinations(cluster));
  }
  const forward: Dispatch = (req, body, handler) => {
    const name = route.pickCluster();
    const dispatch = name === undefined ? undefined : perCluster.get(name);
    if (name === undefined || dispatch === undefined) {
      handler.onResponseError(NoHealthyEndpointError(name ?? route.name));
      return noop;
    }
    const exchange = new RouteExchange(
      handler,
      env.stats,
      env.counters.get(route, name),
      req.startTime,
      route.timeoutMs,
    );
    if (edgeRoute !== undefined) body = edge!.track(exchange, edgeRoute, req, body, destinations.get(name));
    exchange.cancel = dispatch(req, body, exchange);
    return exchange.abort;
  };
  return composeLayers(layers.request.map((f) => f(route, env)).filter(present), forward);
}

/** Every route of a listener, compiled; found per request by the object the router returned. */
export class RouteRuntimes {
  private readonly byRoute = new Map<MatchedRoute, Dispatch>();

  constructor(env: StackEnv, layers: RouteLayers) {
    for (const route of env.router.routes) this.byRoute.set(route, compileRoute(route, env, layers));
  }

  get(route: MatchedRoute): Dispatch | undefined {
    return this.byRoute.get(route);
  }
}
