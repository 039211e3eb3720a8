// Which services may split their traffic, read from the routing resources users apply. Native
// TrafficRoutes are listed by /api/v1/resources/TrafficRoute, but what another mesh's kind lowers
// to (a VirtualService with subsets, a TrafficSplit, …) is not: those are found by the service they
// target, and the view then asks describe which route is in force for each of them.
import type { ResourceObject, ResourceRef } from '../../types.ts';

/** The kinds that can route a service's requests to several backends (docs/dialects.md). */
export const ROUTING_KINDS = [
  'TrafficRoute',
  'VirtualService',
  'TrafficSplit',
  'HTTPRoute',
  'GRPCRoute',
  'ServiceProfile',
] as const;

const SERVICE_HOST =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(?:\.svc(?:\.cluster\.local)?)?)?$/;

/**
 * The service a reference names, as Istio reads hosts: `name` is in `namespace` (the resource's),
 * `name.ns` and `name.ns.svc[.cluster.local]` name one elsewhere; anything else is not a mesh service.
 */
export function serviceOfHost(host: string, namespace: string): ResourceRef | undefined {
  const m = SERVICE_HOST.exec(host.trim().toLowerCase());
  if (m === null) return undefined;
  return { namespace: m[3] ?? namespace, name: m[1]! };
}

function field(o: unknown, key: string): unknown {
  return typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];

/** The services a routing resource targets (the ones whose requests it routes). */
export function targetsOf(r: ResourceObject): ResourceRef[] {
  const ns = r.metadata.namespace;
  const spec = r.spec;
  const one = (host: unknown): ResourceRef[] => {
    const ref = typeof host === 'string' ? serviceOfHost(host, ns) : undefined;
    return ref === undefined ? [] : [ref];
  };
  switch (r.kind) {
    case 'TrafficRoute':
    case 'TrafficSplit':
      return one(field(spec, 'service'));
    case 'VirtualService':
      return strings(field(spec, 'hosts')).flatMap(one);
    case 'ServiceProfile':
      return one(r.metadata.name);
    case 'HTTPRoute':
    case 'GRPCRoute': {
      // GAMMA: a route attached to a Service routes that service's requests.
      const parents = field(spec, 'parentRefs');
      if (!Array.isArray(parents)) return [];
      return parents.flatMap((p: unknown) => {
        const kind = field(p, 'kind');
        const name = field(p, 'name');
        const pns = field(p, 'namespace');
        if (kind !== 'Service' || typeof name !== 'string') return [];
        return [{ namespace: typeof pns === 'string' ? pns : ns, name }];
      });
    }
    default:
      return [];
  }
}

/** The distinct services `resources` target, sorted by namespace and name. */
export function candidateServices(resources: readonly ResourceObject[]): ResourceRef[] {
  const seen = new Map<string, ResourceRef>();
  for (const r of resources) for (const t of targetsOf(r)) seen.set(`${t.namespace}/${t.name}`, t);
  return [...seen.values()].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
}
