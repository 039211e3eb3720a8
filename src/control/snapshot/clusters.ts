// Clusters of a snapshot: one per service (its workloads' sidecars), and the local app.
import { Cluster, Endpoint } from '../../model/schema.ts';
import type { MeshService, ServiceId } from '../../resources/catalog.ts';
import { serviceKey } from '../../resources/catalog.ts';
import { SUBSET_OF_LABEL } from '../../resources/kinds.ts';
import type { TrafficPolicyResource, WorkloadProtocol, WorkloadResource } from '../../resources/kinds.ts';
import { INBOUND_APP_CLUSTER } from './names.ts';

export { INBOUND_APP_CLUSTER };

// Names use ":" as separator: the model's names allow letters, digits and . _ : / - only (no "|").
export function outboundClusterName(id: ServiceId): string {
  return `outbound:${serviceKey(id)}`;
}

// The model's own defaults, so a snapshot says what a hand-written config would mean.
const CLUSTER_DEFAULTS = Cluster.parse({ name: 'defaults' });
const ENDPOINT_DEFAULTS = Endpoint.parse({ address: '127.0.0.1', port: 0 });

export function clusterProtocol(p: WorkloadProtocol): Cluster['protocol'] {
  return p === 'http' ? 'http1' : p;
}

function sortedLabels(labels: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) out[k] = labels[k]!;
  return out;
}

function locality(w: WorkloadResource): string | undefined {
  const l = w.spec.locality;
  if (l === undefined || (l.region === undefined && l.zone === undefined)) return undefined;
  return l.zone === undefined ? l.region : `${l.region ?? ''}/${l.zone}`;
}

/** A peer as the mesh reaches it: its sidecar's inbound port, never the app port. */
function endpointOf(w: WorkloadResource): Endpoint {
  const where = locality(w);
  return {
    address: w.spec.address,
    port: w.spec.ports.inbound,
    weight: ENDPOINT_DEFAULTS.weight,
    healthy: w.spec.ready,
    labels: sortedLabels(w.metadata.labels),
    ...(where === undefined ? {} : { locality: where }),
  };
}

function compareEndpoints(a: [Endpoint, string], b: [Endpoint, string]): number {
  const [x, xn] = a;
  const [y, yn] = b;
  if (x.address !== y.address) return x.address < y.address ? -1 : 1;
  if (x.port !== y.port) return x.port - y.port;
  return xn < yn ? -1 : xn > yn ? 1 : 0;
}

/**
 * The cluster of one service. `service` is undefined for a service a route names that does not
 * exist (yet): the cluster is empty, so requests routed there get a clear 503 instead of a
 * snapshot the proxy would refuse.
 */
export function serviceCluster(
  id: ServiceId,
  service: MeshService | undefined,
  protocol: WorkloadProtocol,
  policy: TrafficPolicyResource | undefined,
  trustDomain?: string,
): Cluster {
  const endpoints = (service?.workloads ?? [])
    .map((w): [Endpoint, string] => [endpointOf(w), w.metadata.name])
    .sort(compareEndpoints)
    .map(([e]) => e);
  const p = policy?.spec;
  return {
    name: outboundClusterName(id),
    protocol: clusterProtocol(protocol),
    lb: p?.lb ?? { ...CLUSTER_DEFAULTS.lb },
    connectTimeout: p?.connectTimeout ?? CLUSTER_DEFAULTS.connectTimeout,
    pool: p?.pool ?? { ...CLUSTER_DEFAULTS.pool },
    ...(p?.tls === undefined ? {} : { tls: p.tls }),
    ...(p?.tls === undefined && p?.meshTls !== false && trustDomain !== undefined && service !== undefined
      ? { mtls: { identities: meshIdentities(service.workloads, trustDomain) } }
      : {}),
    service: {
      name: service?.explicit?.metadata.labels[SUBSET_OF_LABEL] ?? id.name,
      namespace: id.namespace,
    },
    endpoints,
    panicThreshold: p?.panicThreshold ?? CLUSTER_DEFAULTS.panicThreshold,
    ...(p?.limits === undefined ? {} : { limits: p.limits }),
    ...(p?.outlierDetection === undefined ? {} : { outlierDetection: p.outlierDetection }),
    ...(p?.healthCheck === undefined ? {} : { healthCheck: p.healthCheck }),
    ...(p?.adaptiveConcurrency === undefined ? {} : { adaptiveConcurrency: p.adaptiveConcurrency }),
  };
}

/** The SPIFFE IDs a service's sidecars may present: one per service account behind it. */
function meshIdentities(workloads: readonly WorkloadResource[], trustDomain: string): string[] {
  const ids = new Set(
    workloads.map((w) => `spiffe://${trustDomain}/ns/${w.metadata.namespace}/sa/${w.spec.serviceAccount}`),
  );
  return [...ids].sort();
}

/** The app next to the sidecar, on loopback. */
export function inboundAppCluster(w: WorkloadResource): Cluster {
  return {
    name: INBOUND_APP_CLUSTER,
    protocol: clusterProtocol(w.spec.protocol),
    lb: { ...CLUSTER_DEFAULTS.lb },
    connectTimeout: CLUSTER_DEFAULTS.connectTimeout,
    pool: { ...CLUSTER_DEFAULTS.pool },
    endpoints: [{ ...ENDPOINT_DEFAULTS, address: '127.0.0.1', port: w.spec.ports.app, labels: {} }],
    panicThreshold: CLUSTER_DEFAULTS.panicThreshold,
  };
}
