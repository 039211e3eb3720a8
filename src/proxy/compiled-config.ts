// A config made ready to serve: routers compiled, clusters built, one stack per listener.
// Compiling never touches the config in force; the swap is one assignment.
import type { ProxyStats, RequestStats } from '../metrics/proxy-stats.ts';
import type { ProxyConfig } from '../model/schema.ts';
import { compileRouteTable, type Router } from '../route/index.ts';
import { ClusterRuntime } from './cluster.ts';
import type { TransportRegistry } from './transports.ts';
import { RouteCounters, type StackEnv } from './forward.ts';
import { inboundStack } from './inbound.ts';
import type { ListenerConfigView } from './listener.ts';
import { outboundStack } from './outbound.ts';
import { loadMeshTls, type MeshTls } from '../tls/mesh-tls.ts';
import { compileInboundSecurity } from './inbound-security.ts';
import { compileTracer, type Tracer } from '../tracing/tracer.ts';
import { compileEdgeReporters } from './edge-metrics.ts';
import { openAccessLog } from '../accesslog/sink.ts';
import type { TapHub } from '../tap/hub.ts';
import { compileInterception } from './interception.ts';

export interface CompiledConfig {
  readonly version: string;
  readonly config: ProxyConfig;
  readonly listeners: ReadonlyMap<string, ListenerConfigView>;
  /** Every request counter this config writes to (see ProxyStats.retainOnly). */
  readonly counters: readonly RequestStats[];
  /** The workload certificate as TLS contexts (config `secrets`). */
  readonly meshTls: MeshTls | undefined;
  /** Tracing of this config; call shutdown() once it is replaced (spans in flight are kept). */
  readonly tracer?: Tracer | undefined;
}

/**
 * Builds everything a config needs without touching the one in force. The caller commits it
 * (swaps it in, then sweeps transports and counters the old config alone used).
 */
export function compileConfig(
  config: ProxyConfig,
  transports: TransportRegistry,
  stats: ProxyStats,
  tap?: TapHub,
): CompiledConfig {
  // First: a certificate that cannot be used refuses the config before anything is built.
  const meshTls = config.secrets === undefined ? undefined : loadMeshTls(config.secrets);
  const inboundSecurity = compileInboundSecurity(config.inboundSecurity);
  const edge = compileEdgeReporters(config, stats, meshTls);
  const accessLog = config.telemetry.accessLog.enabled
    ? openAccessLog(config.telemetry.accessLog.path)
    : undefined;
  transports.beginGeneration();
  const clusters = new Map<string, ClusterRuntime>();
  for (const c of config.clusters)
    clusters.set(c.name, new ClusterRuntime(c, transports, stats.clusterConnections(c.name), stats.policy));
  const routers = new Map<string, Router>();
  for (const t of config.routeTables) routers.set(t.name, compileRouteTable(t));
  const tracer = compileTracer(config);
  const listeners = new Map<string, ListenerConfigView>();
  const counters: RequestStats[] = [];
  for (const l of config.listeners) {
    // TCP-only listeners still need the clusters: they get an env without routes.
    const router = (l.routeTable === undefined ? undefined : routers.get(l.routeTable)) ?? emptyRouter;
    const env: StackEnv = {
      listener: l.name,
      direction: l.direction,
      router,
      clusters,
      stats,
      counters: new RouteCounters(stats, l.direction, l.name, router),
      meshTls,
      listenerPort: l.port,
      tracer,
      accessLog,
      tap,
      edge: edge[l.direction],
      ...(l.direction === 'inbound' ? { inboundSecurity } : {}),
    };
    counters.push(...env.counters.all);
    const dispatch =
      l.routeTable === undefined
        ? undefined
        : l.direction === 'inbound'
          ? inboundStack(env)
          : outboundStack(env);
    const interception = l.interception === undefined ? undefined : compileInterception(l.interception);
    listeners.set(l.name, { listener: l, env, dispatch, interception });
  }
  return { version: config.version, config, listeners, counters, meshTls, tracer };
}

const emptyRouter: Router = { match: () => undefined, routes: [] };
