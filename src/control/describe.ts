// What `trellis describe service` shows: the service as the mesh sees it — explicit or implied by
// its workloads, the endpoints behind it and their health (and which callers' outlier detection has
// ejected them), and the routes, policies and security policies that apply.
import { prepareSecurity, workloadIdentity, type PreparedSecurity } from '../dialects/index.ts';
import { DEFAULT_TRUST_DOMAIN } from '../identity/spiffe.ts';
import { buildServiceCatalog, byTargetService, serviceKey } from '../resources/catalog.ts';
import type { Resource } from '../resources/kinds.ts';
import type { ApiContext } from './api.ts';
import type { MeshState } from './snapshot/index.ts';
import { endpointKey, type Ejection } from './stats/ejections.ts';
import type { VipProblem } from './vip/allocator.ts';

/** Where describe finds a service's virtual IP (vip/allocator.ts). */
export interface VipLookup {
  addressOf(service: string): string | undefined;
  problemOf(service: string): VipProblem | undefined;
}

/** Beyond the mesh state: the security kinds, and what the proxies said they ejected. */
export interface DescribeSources {
  security: PreparedSecurity;
  /** Per endpoint (`address:port`, ejections.ts), the callers that have it ejected. */
  ejections: ReadonlyMap<string, readonly Ejection[]>;
}

export function describeSources(ctx: ApiContext): DescribeSources {
  const trustDomain = ctx.identity?.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  return {
    security: prepareSecurity(ctx.view.dialectResources(), { trustDomain }),
    ejections: ctx.push.stats.ejections.byEndpoint(),
  };
}

export interface EndpointEjection {
  /** The calling proxy that ejected it: `WORKLOAD.NAMESPACE`, as sidecars name themselves. */
  proxy: string;
  /** Its cluster in that proxy's config. */
  cluster: string;
  /** When its ejection time is up (ISO 8601); it comes back at the detector's next sweep. */
  until: string;
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
    /** Callers whose outlier detection ejected it, as their last stats report said. */
    ejectedBy: EndpointEjection[];
  }[];
  route: Resource | undefined;
  ignoredRoutes: string[];
  policy: Resource | undefined;
  ignoredPolicies: string[];
  /** Routes elsewhere that send traffic to this service (e.g. a canary naming reviews-v2). */
  referencedBy: string[];
  /** Security resources (`Kind/namespace/name`) that apply to its workloads: mTLS, JWT, authorization. */
  securityPolicies: string[];
}

export function describeService(
  state: MeshState,
  namespace: string,
  name: string,
  vips?: VipLookup,
  sources?: DescribeSources,
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
      ejectedBy: (sources?.ejections.get(endpointKey(w.spec.address, w.spec.ports.inbound)) ?? []).map(
        (e) => ({
          proxy: `${e.proxy.name}.${e.proxy.namespace}`,
          cluster: e.cluster,
          until: new Date(e.untilMs).toISOString(),
        }),
      ),
    })),
    route: route?.winner,
    ignoredRoutes: (route?.ignored ?? []).map(id),
    policy: policy?.winner,
    ignoredPolicies: (policy?.ignored ?? []).map(id),
    referencedBy,
    securityPolicies: [
      ...new Set(
        svc.workloads.flatMap((w) =>
          (sources?.security.forWorkload(workloadIdentity(w)).origins ?? []).map((o) => o.resource),
        ),
      ),
    ].sort(),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}
