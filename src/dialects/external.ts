// Services outside the mesh (Istio ServiceEntry): the one thing the native model cannot say.
// A lowered ServiceEntry host is a native Service (so routes, policies and scope treat it like
// any other) plus an ExternalService: the DNS names callers use for it, and its endpoints when
// they are not workloads (static IPs, or DNS names the proxy resolves when it connects).
//
// Proposed addition to the model (docs/dialects.md): applyExternalServices() runs on each
// compiled snapshot; it adds the names to the service's virtual host and puts the endpoints in
// its cluster. Nothing changes for a mesh without ServiceEntries.
import type { Cluster, Endpoint, ProxyConfig } from '../model/schema.ts';
import { serviceKey, type ServiceId } from '../resources/catalog.ts';

export interface ExternalService {
  service: ServiceId;
  /** Extra virtual-host domains (the ServiceEntry hosts that are not cluster names). */
  domains: string[];
  /** The cluster's endpoints; undefined keeps the workloads the Service selects. */
  endpoints: Endpoint[] | undefined;
}

function outboundClusterOf(id: ServiceId): string {
  // As src/control/snapshot/clusters.ts names it.
  return `outbound:${serviceKey(id)}`;
}

/** The snapshot with every external service's names and endpoints; the same object when there are none. */
export function applyExternalServices(
  config: ProxyConfig,
  externals: readonly ExternalService[],
): ProxyConfig {
  if (externals.length === 0) return config;
  const byKey = new Map(externals.map((e) => [serviceKey(e.service), e]));
  const byCluster = new Map(externals.map((e) => [outboundClusterOf(e.service), e]));
  let touched = false;
  const routeTables = config.routeTables.map((table) => {
    const taken = new Set(table.virtualHosts.flatMap((v) => v.domains.map((d) => d.toLowerCase())));
    const virtualHosts = table.virtualHosts.map((vh) => {
      const ext = byKey.get(vh.name);
      if (ext === undefined || table.name !== 'outbound') return vh;
      const extra = ext.domains.filter((d) => !taken.has(d.toLowerCase()));
      for (const d of extra) taken.add(d.toLowerCase());
      if (extra.length === 0) return vh;
      touched = true;
      return { ...vh, domains: [...vh.domains, ...extra] };
    });
    return { ...table, virtualHosts };
  });
  const clusters = config.clusters.map((c): Cluster => {
    const ext = byCluster.get(c.name);
    if (ext?.endpoints === undefined) return c;
    touched = true;
    // Endpoints that are not workloads have no sidecar to speak mesh mTLS with.
    const { mtls: _mtls, ...plain } = c;
    return { ...plain, endpoints: ext.endpoints };
  });
  return touched ? { ...config, routeTables, clusters } : config;
}
