// What `trellis describe service` shows: the service as the mesh sees it — explicit or implied by
// its workloads, the endpoints behind it and their health, and the routes and policies that apply.
import { buildServiceCatalog, byTargetService, serviceKey } from '../resources/catalog.ts';
import type { Resource } from '../resources/kinds.ts';
import type { MeshState } from './snapshot/index.ts';
import type { VipProblem } from './vip/allocator.ts';

/** Where describe finds a service's virtual IP (vip/allocator.ts). */
export interface VipLookup {
  addressOf(service: string): string | undefined;
  problemOf(service: string): VipProblem | undefined;
}

export interface ServiceDescription {
  name: string;
  namespace: string;
  source: 'Service' | 'implied by workloads';
  ports: number[];
  protocol: string;
  /** The address apps dial under transparent interception; absent while none is allocated. */
  virtualIp?: string;
  /** Why it has none (range exhausted, clusterIP taken). */
  virtualIpProblem?: VipProblem;
  selector: Record<string, string> | undefined;
  endpoints: {
    workload: string;
    address: string;
    inboundPort: number;
    appPort: number;
    version: string;
    ready: boolean;
    serviceAccount: string;
  }[];
  route: Resource | undefined;
  ignoredRoutes: string[];
  policy: Resource | undefined;
  ignoredPolicies: string[];
  /** Routes elsewhere that send traffic to this service (e.g. a canary naming reviews-v2). */
  referencedBy: string[];
}

export function describeService(
  state: MeshState,
  namespace: string,
  name: string,
  vips?: VipLookup,
): ServiceDescription | undefined {
  const key = serviceKey({ name, namespace });
  const svc = buildServiceCatalog(state.services, state.workloads).get(key);
  if (svc === undefined) return undefined;
  const route = byTargetService(state.routes).get(key);
  const policy = byTargetService(state.policies).get(key);
  const referencedBy = state.routes
    .filter((r) =>
      r.spec.routes.some((rt) =>
        rt.backends.some((b) => {
          const [n = '', ns = r.metadata.namespace] = b.service.split('.');
          return n === name && ns === namespace;
        }),
      ),
    )
    .map((r) => `TrafficRoute ${r.metadata.namespace}/${r.metadata.name}`);
  const id = (r: Resource): string => `${r.metadata.namespace}/${r.metadata.name}`;
  return {
    name,
    namespace,
    source: svc.explicit !== undefined ? 'Service' : 'implied by workloads',
    ports: svc.ports,
    protocol: svc.protocol,
    ...optional('virtualIp', vips?.addressOf(key)),
    ...optional('virtualIpProblem', vips?.problemOf(key)),
    selector: svc.explicit?.spec.selector,
    endpoints: svc.workloads.map((w) => ({
      workload: w.metadata.name,
      address: w.spec.address,
      inboundPort: w.spec.ports.inbound,
      appPort: w.spec.ports.app,
      version: w.metadata.labels.version,
      ready: w.spec.ready,
      serviceAccount: w.spec.serviceAccount,
    })),
    route: route?.winner,
    ignoredRoutes: (route?.ignored ?? []).map(id),
    policy: policy?.winner,
    ignoredPolicies: (policy?.ignored ?? []).map(id),
    referencedBy,
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
