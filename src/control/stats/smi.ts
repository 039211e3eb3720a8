// The SMI Traffic Metrics API (metrics.smi-spec.io/v1alpha1), served by the control plane itself
// with the API's bearer tokens (reader tokens may GET):
//   GET /apis/metrics.smi-spec.io/v1alpha1                          APIResourceList
//   GET /apis/metrics.smi-spec.io/v1alpha1/KIND                     TrafficMetricsList, every namespace
//   GET /apis/metrics.smi-spec.io/v1alpha1/namespaces[/NAME[/edges]]
//   GET /apis/metrics.smi-spec.io/v1alpha1/namespaces/NS/KIND[/NAME[/edges]]
// `?window=30s` (10s to 15m, default 1m). KIND: pods (Workload instances), deployments (service +
// version, the `workload` label of metrics), services. A resource's own metrics are its inbound
// traffic (edge: from, server, {}). Its edges: `from` its callers as its sidecars saw them, `to`
// its callees as its sidecars saw them; an edge names a pod's peer by deployment, and a service's
// callers by deployment, since that is what the labels know. Latencies are in ms (unit `ms`, as
// smi-metrics writes them), values are Kubernetes quantities (strings); label selectors are not
// supported.
import { ApiError, NotFoundError } from '../errors.ts';
import type { ApiContext, ApiRoute } from '../api.ts';
import { resourceStats, statsView, type StatsView } from './api-stats.ts';
import { edgesOf, type Edge } from './edges.ts';
import type { Golden, ResourceRef, StatKind } from './query.ts';

export const SMI_PREFIX = '/apis/metrics.smi-spec.io/v1alpha1';
const API_VERSION = 'metrics.smi-spec.io/v1alpha1';

type SmiKind = 'pods' | 'deployments' | 'services' | 'namespaces';
const OURS: Readonly<Record<SmiKind, StatKind>> = {
  pods: 'workloads',
  deployments: 'deployments',
  services: 'services',
  namespaces: 'namespaces',
};
const OBJECT_KIND: Readonly<Record<StatKind, string>> = {
  workloads: 'Pod',
  deployments: 'Deployment',
  services: 'Service',
  namespaces: 'Namespace',
};

interface ObjectReference {
  kind: string;
  namespace?: string;
  name?: string;
}

export interface TrafficMetrics {
  kind: 'TrafficMetrics';
  apiVersion: string;
  metadata: { name: string; namespace?: string; creationTimestamp: string };
  timestamp: string;
  window: string;
  resource: ObjectReference;
  edge: {
    direction: 'from' | 'to';
    side: 'server' | 'client';
    resource: ObjectReference | Record<string, never>;
  };
  metrics: { name: string; unit?: string; value: string | null }[];
}

export interface TrafficMetricsList {
  kind: 'TrafficMetricsList';
  apiVersion: string;
  resource: ObjectReference;
  items: TrafficMetrics[];
}

function smiKind(name: string): SmiKind {
  const k = name === 'workloads' ? 'pods' : name;
  if (k === 'pods' || k === 'deployments' || k === 'services' || k === 'namespaces') return k;
  throw new ApiError(
    'TRELLIS_UNKNOWN_KIND',
    404,
    `the traffic metrics API serves pods, deployments, services and namespaces, not "${name}"`,
  );
}

function reference(kind: StatKind, r: ResourceRef | undefined): ObjectReference {
  if (r === undefined) return { kind: OBJECT_KIND[kind] };
  return kind === 'namespaces'
    ? { kind: OBJECT_KIND[kind], name: r.name }
    : { kind: OBJECT_KIND[kind], namespace: r.namespace, name: r.name };
}

const quantity = (n: number | null): string | null => (n === null ? null : String(n));

function metrics(g: Golden | null): TrafficMetrics['metrics'] {
  return [
    { name: 'p99_response_latency', unit: 'ms', value: quantity(g?.latencyMs.p99 ?? null) },
    { name: 'p90_response_latency', unit: 'ms', value: quantity(g?.latencyMs.p90 ?? null) },
    { name: 'p50_response_latency', unit: 'ms', value: quantity(g?.latencyMs.p50 ?? null) },
    { name: 'success_count', value: String(g?.successCount ?? 0) },
    { name: 'failure_count', value: String(g?.failureCount ?? 0) },
  ];
}

function trafficMetrics(
  v: StatsView,
  kind: StatKind,
  r: ResourceRef,
  edge: TrafficMetrics['edge'],
  g: Golden | null,
): TrafficMetrics {
  return {
    kind: 'TrafficMetrics',
    apiVersion: API_VERSION,
    metadata: {
      name: r.name,
      ...(kind === 'namespaces' ? {} : { namespace: r.namespace }),
      creationTimestamp: v.timestamp,
    },
    timestamp: v.timestamp,
    window: v.window,
    resource: reference(kind, r),
    edge,
    metrics: metrics(g),
  };
}

const INBOUND = { direction: 'from', side: 'server', resource: {} } as const;

function list(
  ctx: ApiContext,
  q: URLSearchParams,
  kind: StatKind,
  ns: string | undefined,
): TrafficMetricsList {
  const v = statsView(ctx, q);
  const items = [...resourceStats(v, kind).values()]
    .filter((i) => ns === undefined || i.namespace === ns)
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
    .map((i) => trafficMetrics(v, kind, i, { ...INBOUND }, i.stats));
  const resource: ObjectReference = { kind: OBJECT_KIND[kind] };
  if (ns !== undefined && kind !== 'namespaces') resource.namespace = ns;
  return { kind: 'TrafficMetricsList', apiVersion: API_VERSION, resource, items };
}

function one(ctx: ApiContext, q: URLSearchParams, kind: StatKind, r: ResourceRef): TrafficMetrics {
  const v = statsView(ctx, q);
  const item = resourceStats(v, kind).get(`${r.namespace}/${r.name}`);
  if (item === undefined) throw NotFoundError(`${OBJECT_KIND[kind]} ${r.namespace}/${r.name}`);
  return trafficMetrics(v, kind, r, { ...INBOUND }, item.stats);
}

/** The kind an edge names the other side by: what the labels of that side know. */
function peerKind(kind: StatKind, direction: 'from' | 'to'): StatKind {
  if (kind === 'namespaces' || kind === 'deployments') return kind;
  return kind === 'services' && direction === 'to' ? 'services' : 'deployments';
}

function edgeList(ctx: ApiContext, q: URLSearchParams, kind: StatKind, r: ResourceRef): TrafficMetricsList {
  const v = statsView(ctx, q);
  if (!resourceStats(v, kind).has(`${r.namespace}/${r.name}`))
    throw NotFoundError(`${OBJECT_KIND[kind]} ${r.namespace}/${r.name}`);
  const same = (x: ResourceRef): boolean => x.namespace === r.namespace && x.name === r.name;
  const fromKind = peerKind(kind, 'from');
  const toKind = peerKind(kind, 'to');
  const item = (e: Edge, direction: 'from' | 'to'): TrafficMetrics =>
    trafficMetrics(
      v,
      kind,
      r,
      {
        direction,
        side: e.side,
        resource: reference(direction === 'from' ? fromKind : toKind, direction === 'from' ? e.src : e.dst),
      },
      e.acc.golden(v.covered),
    );
  const items = [
    ...edgesOf(v.data, fromKind, kind, (_s, d) => same(d)).map((e) => item(e, 'from')),
    ...edgesOf(v.data, kind, toKind, (s) => same(s)).map((e) => item(e, 'to')),
  ];
  return { kind: 'TrafficMetricsList', apiVersion: API_VERSION, resource: reference(kind, r), items };
}

const RESOURCE_LIST = {
  kind: 'APIResourceList',
  apiVersion: 'v1',
  groupVersion: API_VERSION,
  resources: (['namespaces', 'pods', 'deployments', 'services'] as const).map((name) => ({
    name,
    namespaced: name !== 'namespaces',
    kind: 'TrafficMetrics',
    verbs: ['get', 'list'],
  })),
};

const P = SMI_PREFIX.replaceAll('.', '\\.');
type SmiHandler = (ctx: ApiContext, q: URLSearchParams, p: Record<string, string>) => unknown;
const ns = (name: string): ResourceRef => ({ namespace: name, name });

const table: [RegExp, SmiHandler][] = [
  [new RegExp(`^${P}/?$`), () => RESOURCE_LIST],
  [
    new RegExp(`^${P}/namespaces/(?<name>[^/]+)/edges$`),
    (c, q, p) => edgeList(c, q, 'namespaces', ns(p.name!)),
  ],
  [
    new RegExp(`^${P}/namespaces/(?<ns>[^/]+)/(?<kind>[^/]+)/(?<name>[^/]+)/edges$`),
    (c, q, p) => edgeList(c, q, OURS[smiKind(p.kind!)], { namespace: p.ns!, name: p.name! }),
  ],
  [
    new RegExp(`^${P}/namespaces/(?<ns>[^/]+)/(?<kind>[^/]+)/(?<name>[^/]+)$`),
    (c, q, p) => one(c, q, OURS[smiKind(p.kind!)], { namespace: p.ns!, name: p.name! }),
  ],
  [
    new RegExp(`^${P}/namespaces/(?<ns>[^/]+)/(?<kind>[^/]+)$`),
    (c, q, p) => list(c, q, OURS[smiKind(p.kind!)], p.ns!),
  ],
  [new RegExp(`^${P}/namespaces/(?<name>[^/]+)$`), (c, q, p) => one(c, q, 'namespaces', ns(p.name!))],
  [new RegExp(`^${P}/(?<kind>[^/]+)$`), (c, q, p) => list(c, q, OURS[smiKind(p.kind!)], undefined)],
];

export const smiRoutes: ApiRoute[] = table.map(([pattern, h]): ApiRoute => [
  'GET',
  pattern,
  async (ctx, _req, p, q) => h(ctx, q, p),
]);
