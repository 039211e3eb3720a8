// Routing, the bottom of both stacks: match the route by authority, path, method, headers, then
// hand the request to that route's compiled pipeline (route-runtime.ts).
import type { MeshTls } from '../tls/mesh-tls.ts';
import type { AccessLogSink } from '../accesslog/sink.ts';
import type { CompiledInboundSecurity } from './inbound-security.ts';
import { RouteNotFoundError } from '../errors.ts';
import type { MatchedRoute, Router } from '../route/index.ts';
import type { ClusterRuntime } from './cluster.ts';
import type { RouteRuntimes } from './route-runtime.ts';
import type { Cancel, Dispatch, ProxyRequest, RequestBody, ResponseHandler } from './types.ts';
import type { ProxyStats, RequestStats } from '../metrics/proxy-stats.ts';
import type { Tracer } from '../tracing/tracer.ts';
import type { EdgeReporter } from './edge-metrics.ts';
import type { TapHub } from '../tap/hub.ts';

export interface StackEnv {
  listener: string;
  direction: 'inbound' | 'outbound';
  router: Router;
  clusters: ReadonlyMap<string, ClusterRuntime>;
  stats: ProxyStats;
  counters: RouteCounters;
  /** The workload certificate of this config, for listeners that terminate mesh mTLS. */
  meshTls?: MeshTls | undefined;
  /** Inbound listeners: JWT rules and authorization policies, compiled. */
  inboundSecurity?: CompiledInboundSecurity | undefined;
  /** The listener's configured port (what `destination.port` means without an app port). */
  listenerPort: number;
  /** The config's tracing (telemetry.tracing); undefined when it is off. */
  tracer?: Tracer | undefined;
  /** Edge metrics for this listener's direction (source or destination reporter); see edge-metrics.ts. */
  edge?: EdgeReporter | undefined;
  /** Where access-log lines go; undefined: access logs are off (no layer is built). */
  accessLog?: AccessLogSink | undefined;
  /** The proxy's live tap sessions (src/tap), kept across reloads; undefined: no tap layer. */
  tap?: TapHub | undefined;
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

/** The bottom of a listener's stack: match the route, then run that route's compiled pipeline. */
export function routeAndForward(env: StackEnv, routes: RouteRuntimes): Dispatch {
  return function forward(req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler): Cancel {
    const route = env.router.match(req);
    const dispatch = route === undefined ? undefined : routes.get(route);
    if (dispatch === undefined) {
      handler.onResponseError(RouteNotFoundError(req.authority, req.path));
      return noop;
    }
    return dispatch(req, body, handler);
  };
}
