// Transparent interception in a snapshot (src/model/interception.ts): for the services a proxy
// sees, what each virtual IP:port means to its outbound listener, and the names its app resolves
// to those addresses. Built per (namespace, scope) with the rest of the outbound side, so proxies
// of one namespace share these objects (and their encoded bytes).
import type { InterceptedDestination, ListenerInterception, MeshDns } from '../../model/interception.ts';
import type { MeshService } from '../../resources/catalog.ts';
import type { WorkloadResource } from '../../resources/kinds.ts';
import { outboundClusterName } from './clusters.ts';
import { serviceDomains } from './outbound.ts';

export type Passthrough = ListenerInterception['passthrough'];

/** What the control plane knows about interception; the compiler emits none without it. */
export interface MeshInterception {
  /** Service key (`name.namespace`) → its virtual IP (src/control/vip). */
  virtualIps: ReadonlyMap<string, string>;
  /** What a proxy does with a redirected connection to no known destination (ALLOW_ANY: allow). */
  passthroughFor(w: WorkloadResource): Passthrough;
  /**
   * Names a service is dialled by instead of its cluster names, by service key: the hosts of a
   * ServiceEntry (`api.example.com`), whose lowered Service has a synthetic name nobody dials.
   */
  hostNames?: ReadonlyMap<string, readonly string[]>;
}

export interface InterceptionPart {
  destinations: InterceptedDestination[];
  dns: MeshDns;
}

/**
 * One destination per (virtual IP, port) and one hosts entry per virtual IP. The authority is the
 * service's FQDN with the port, which the outbound virtual host of the service matches; opaque TCP
 * (a tcp service, or bytes that are not HTTP) goes to the service's cluster. Workload addresses are
 * not listed: apps dial services, and a connection to anything else is passthrough.
 */
export function interceptionPart(
  services: readonly MeshService[],
  proxyNamespace: string,
  mesh: MeshInterception,
): InterceptionPart {
  const destinations: InterceptedDestination[] = [];
  const hosts: MeshDns['hosts'] = [];
  for (const svc of services) {
    const address = mesh.virtualIps.get(svc.key);
    if (address === undefined) continue;
    const given = mesh.hostNames?.get(svc.key);
    const names = given !== undefined && given.length > 0 ? [...given] : serviceDomains(svc, proxyNamespace);
    const host = given?.[0] ?? `${svc.name}.${svc.namespace}.svc.cluster.local`;
    for (const port of svc.ports) {
      destinations.push({
        address,
        port,
        authority: `${host}:${port}`,
        ...(svc.protocol === 'tcp' ? { tcpCluster: outboundClusterName(svc) } : {}),
      });
    }
    hosts.push({ address, names });
  }
  return { destinations, dns: { hosts } };
}
