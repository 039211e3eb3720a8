// The services a set of resources defines and the workloads behind each, with Kubernetes'
// semantics: an explicit Service selects workloads of its namespace by label; every
// `Workload.spec.service` without an explicit Service of that name gets an implicit one.
import type {
  AppProtocol,
  ServiceResource,
  TrafficPolicyResource,
  TrafficRouteResource,
  WorkloadProtocol,
  WorkloadResource,
} from './kinds.ts';

export interface ServiceId {
  name: string;
  namespace: string;
}

/** `name.namespace`: how a service is keyed, named in virtual hosts and clusters. */
export function serviceKey(id: ServiceId): string {
  return `${id.name}.${id.namespace}`;
}

/** `name`, `name.ns`, `name.ns.svc[.cluster.local]`; a bare name is relative to `fromNamespace`. */
export function resolveServiceRef(ref: string, fromNamespace: string): ServiceId {
  const [name = '', namespace = fromNamespace] = ref.split('.');
  return { name, namespace };
}

export interface MeshService extends ServiceId {
  key: string;
  /** The Service resource, or undefined for a service implied by its workloads. */
  explicit: ServiceResource | undefined;
  /** Ports callers use, ascending. */
  ports: number[];
  protocol: WorkloadProtocol;
  /** Selected workloads, sorted by name. */
  workloads: WorkloadResource[];
}

function byName(a: WorkloadResource, b: WorkloadResource): number {
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

function appProtocol(p: AppProtocol): WorkloadProtocol {
  return p === 'kubernetes.io/h2c' ? 'http2' : p;
}

// Istio's port naming convention (`http`, `grpc-api`, ...), for Services pasted from an Istio mesh.
const PORT_NAME_PROTOCOLS: Readonly<Record<string, WorkloadProtocol>> = {
  http: 'http',
  http2: 'http2',
  h2c: 'http2',
  grpc: 'grpc',
  tcp: 'tcp',
  https: 'tcp',
  tls: 'tcp',
  // gRPC-Web is HTTP/1.1-compatible; not gRPC on the wire.
  'grpc-web': 'http',
};

function portNameProtocol(name: string): WorkloadProtocol | undefined {
  return PORT_NAME_PROTOCOLS[name.startsWith('grpc-web') ? 'grpc-web' : name.split('-')[0]!];
}

/**
 * The protocol of an explicit Service: its first port's appProtocol, else the Istio port-name
 * prefix, else what its workloads speak, else http. A service has one cluster, so one protocol.
 */
function explicitProtocol(svc: ServiceResource, selected: WorkloadResource[]): WorkloadProtocol {
  const first = svc.spec.ports[0];
  if (first?.appProtocol) return appProtocol(first.appProtocol);
  const byPortName = first?.name === undefined ? undefined : portNameProtocol(first.name);
  return byPortName ?? selected[0]?.spec.protocol ?? 'http';
}

function selects(selector: Record<string, string> | undefined, w: WorkloadResource): boolean {
  // No selector (or an empty one) selects nothing, as in Kubernetes.
  if (selector === undefined) return false;
  let any = false;
  for (const k in selector) {
    if (w.metadata.labels[k] !== selector[k]) return false;
    any = true;
  }
  return any;
}

/** Every service, keyed `name.namespace`, in key order. */
export function buildServiceCatalog(
  services: readonly ServiceResource[],
  workloads: readonly WorkloadResource[],
): Map<string, MeshService> {
  const sorted = [...workloads].sort(byName);
  const byNamespace = new Map<string, WorkloadResource[]>();
  for (const w of sorted) {
    const list = byNamespace.get(w.metadata.namespace);
    if (list) list.push(w);
    else byNamespace.set(w.metadata.namespace, [w]);
  }
  const out = new Map<string, MeshService>();
  for (const svc of services) {
    const id = { name: svc.metadata.name, namespace: svc.metadata.namespace };
    const selected = (byNamespace.get(id.namespace) ?? []).filter((w) => selects(svc.spec.selector, w));
    out.set(serviceKey(id), {
      ...id,
      key: serviceKey(id),
      explicit: svc,
      ports: [...new Set(svc.spec.ports.map((p) => p.port))].sort((a, b) => a - b),
      protocol: explicitProtocol(svc, selected),
      workloads: selected,
    });
  }
  const implicit = new Map<string, WorkloadResource[]>();
  for (const w of sorted) {
    const key = serviceKey({ name: w.spec.service, namespace: w.metadata.namespace });
    if (out.has(key)) continue;
    const list = implicit.get(key);
    if (list) list.push(w);
    else implicit.set(key, [w]);
  }
  for (const [key, selected] of implicit) {
    const first = selected[0]!;
    const ports = new Set(selected.map((w) => w.spec.ports.service ?? w.spec.ports.app));
    out.set(key, {
      name: first.spec.service,
      namespace: first.metadata.namespace,
      key,
      explicit: undefined,
      ports: [...ports].sort((a, b) => a - b),
      protocol: first.spec.protocol,
      workloads: selected,
    });
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export interface Precedence<T> {
  winner: T;
  /** Other resources for the same service, ignored. */
  ignored: T[];
}

/**
 * TrafficRoutes (or TrafficPolicies) by the service they apply to. When several name one service,
 * the one whose `namespace/name` sorts first wins, whatever the order they were applied in.
 */
export function byTargetService<T extends TrafficRouteResource | TrafficPolicyResource>(
  items: readonly T[],
): Map<string, Precedence<T>> {
  const id = (r: T): string => `${r.metadata.namespace}/${r.metadata.name}`;
  const sorted = [...items].sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
  const out = new Map<string, Precedence<T>>();
  for (const r of sorted) {
    const key = serviceKey(resolveServiceRef(r.spec.service, r.metadata.namespace));
    const entry = out.get(key);
    if (entry) entry.ignored.push(r);
    else out.set(key, { winner: r, ignored: [] });
  }
  return out;
}
