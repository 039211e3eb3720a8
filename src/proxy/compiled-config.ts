// A config made ready to serve: routers compiled, clusters built, one stack per listener.
// Compiling never touches the config in force; the swap is one assignment.
import type { ProxyStats } from '../metrics/proxy-stats.ts';
import type { ProxyConfig } from '../model/schema.ts';
import { compileRouteTable, type Router } from '../route/index.ts';
import { ClusterRuntime, type TransportRegistry } from './cluster.ts';
import type { StackEnv } from './forward.ts';
import { inboundStack } from './inbound.ts';
import type { ListenerConfigView } from './listener.ts';
import { outboundStack } from './outbound.ts';

export interface CompiledConfig {
  readonly version: string;
  readonly config: ProxyConfig;
  readonly listeners: ReadonlyMap<string, ListenerConfigView>;
}

export function compileConfig(
  config: ProxyConfig,
  transports: TransportRegistry,
  stats: ProxyStats,
): CompiledConfig {
  transports.beginGeneration();
  const clusters = new Map<string, ClusterRuntime>();
  for (const c of config.clusters)
    clusters.set(c.name, new ClusterRuntime(c, transports, stats.clusterConnections(c.name)));
  const routers = new Map<string, Router>();
  for (const t of config.routeTables) routers.set(t.name, compileRouteTable(t));
  const listeners = new Map<string, ListenerConfigView>();
  for (const l of config.listeners) {
    const router = l.routeTable === undefined ? undefined : routers.get(l.routeTable);
    const env: StackEnv | undefined =
      router === undefined
        ? undefined
        : { listener: l.name, direction: l.direction, router, clusters, stats };
    const dispatch =
      env === undefined ? undefined : l.direction === 'inbound' ? inboundStack(env) : outboundStack(env);
    // TCP-only listeners still need the clusters: give them an env without routes.
    const view: ListenerConfigView = {
      listener: l,
      env: env ?? { listener: l.name, direction: l.direction, router: emptyRouter, clusters, stats },
      dispatch,
    };
    listeners.set(l.name, view);
  }
  transports.sweep();
  stats.forgetUnused();
  return { version: config.version, config, listeners };
}

const emptyRouter: Router = { match: () => undefined };
