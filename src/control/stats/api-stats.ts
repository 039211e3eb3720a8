// The API's golden-metrics routes, what `trellis stat|routes|edges` show (reader tokens may GET):
//   GET /api/v1/stats/edges?kind=services|deployments|workloads|namespaces&namespace=NS&window=1m
//       callers the labels name only by deployment and identity are mapped back to a service or
//       instance when the mesh state says which one it is (callers.ts), else `unknown`
//   GET /api/v1/stats/services/NS/NAME/routes?window=1m
//   GET /api/v1/stats/KIND?namespace=NS&name=NAME&window=1m   KIND: services|workloads|deployments|namespaces
// No namespace (or an empty one) means every namespace. The SMI TrafficMetrics API is in smi.ts,
// per-bucket series (GET /api/v1/stats/series) in api-series.ts.
// With several control-plane replicas, each answers for the proxies connected to it.
import { parseGoDuration } from '../../dialects/common/duration.ts';
import { byTargetService, serviceKey } from '../../resources/catalog.ts';
import type { ApiContext, ApiRoute } from '../api.ts';
import { ApiError, NotFoundError } from '../errors.ts';
import type { MeshState } from '../snapshot/index.ts';
import { callerResolver } from './callers.ts';
import { edgesOf } from './edges.ts';
import { knownResources } from './inventory.ts';
import {
  coveredSeconds,
  refKey,
  statByResource,
  statByRoute,
  statKind,
  type Golden,
  type ResourceRef,
  type StatKind,
} from './query.ts';
import type { WindowData } from './store.ts';

export const DEFAULT_WINDOW = '1m';

export interface StatItem extends ResourceRef {
  /** Workloads with a connected sidecar, of those registered; null for a resource only traffic names. */
  meshed: { connected: number; total: number } | null;
  /** Null: no traffic in the window. */
  stats: Golden | null;
}
export interface StatResponse {
  kind: StatKind;
  window: string;
  timestamp: string;
  items: StatItem[];
}
export interface RouteItem {
  /** As the proxies name it: a TrafficRoute rule's name, `SERVICE.NS/INDEX` unnamed, `default` without one. */
  route: string;
  stats: Golden | null;
}
export interface RoutesResponse extends ResourceRef {
  window: string;
  timestamp: string;
  items: RouteItem[];
}
export interface EdgeItem {
  src: ResourceRef;
  dst: ResourceRef;
  side: 'server' | 'client';
  secured: boolean;
  clientIds: string[];
  serverIds: string[];
  stats: Golden;
}
export interface EdgesResponse {
  kind: StatKind;
  window: string;
  timestamp: string;
  items: EdgeItem[];
}

/** What one query reads: the store's window and the mesh as it is now. */
export interface StatsView {
  window: string;
  windowMs: number;
  timestamp: string;
  data: WindowData;
  covered: number;
  state: MeshState;
  connected: ReadonlySet<string>;
}

export const BadWindowError = (given: string, minMs: number, maxMs: number): ApiError =>
  new ApiError(
    'TRELLIS_BAD_WINDOW',
    400,
    `window "${given}" must be a duration from ${formatWindow(minMs)} to ${formatWindow(maxMs)} (e.g. 30s, 1m, 5m)`,
  );

/** The `window` a query asks for (`fallback` without one), in ms, within the store's bounds. */
export function windowParam(ctx: ApiContext, q: URLSearchParams, fallback = DEFAULT_WINDOW): number {
  const store = ctx.push.stats;
  const given = q.get('window') || fallback;
  const windowMs = parseGoDuration(given);
  if (windowMs === undefined || windowMs < store.bucketMs || windowMs > store.retentionMs)
    throw BadWindowError(given, store.bucketMs, store.retentionMs);
  return windowMs;
}

/** `namespace/workload` of the workloads whose sidecar is connected to this replica. */
export function connectedWorkloads(ctx: ApiContext): Set<string> {
  return new Set(ctx.push.status().map((p) => `${p.namespace}/${p.workload}`));
}

export function statsView(ctx: ApiContext, q: URLSearchParams): StatsView {
  const windowMs = windowParam(ctx, q);
  const data = ctx.push.stats.window(windowMs);
  const connected = connectedWorkloads(ctx);
  return {
    window: formatWindow(windowMs),
    windowMs,
    timestamp: new Date(data.toMs).toISOString(),
    data,
    covered: coveredSeconds(data),
    state: ctx.view.state(),
    connected,
  };
}

/** Every resource of `kind` the mesh knows or the window's traffic names, with its stats. */
export function resourceStats(v: StatsView, kind: StatKind): Map<string, StatItem> {
  const out = new Map<string, StatItem>();
  for (const [key, k] of knownResources(v.state, v.connected, kind))
    out.set(key, { ...k.ref, meshed: k.meshed, stats: null });
  for (const [key, acc] of statByResource(v.data, kind)) {
    const [namespace = '', name = ''] = key.split('/');
    const item = out.get(key) ?? { namespace, name, meshed: null, stats: null };
    item.stats = acc.golden(v.covered);
    out.set(key, item);
  }
  return out;
}

async function stat(ctx: ApiContext, q: URLSearchParams, kindName: string): Promise<StatResponse> {
  const kind = statKind(kindName);
  if (kind === undefined) throw UnknownStatKindError(kindName);
  const v = statsView(ctx, q);
  const ns = q.get('namespace') ?? '';
  const name = q.get('name') ?? '';
  const items = [...resourceStats(v, kind).values()]
    .filter((i) => (ns === '' || i.namespace === ns) && (name === '' || i.name === name))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  if (name !== '' && items.length === 0)
    throw NotFoundError(`${kind} ${name}${ns !== '' && kind !== 'namespaces' ? ` in namespace ${ns}` : ''}`);
  return { kind, window: v.window, timestamp: v.timestamp, items };
}

async function routes(ctx: ApiContext, q: URLSearchParams, service: ResourceRef): Promise<RoutesResponse> {
  const v = statsView(ctx, q);
  const key = serviceKey(service);
  // The routes its callers' sidecars compile: the TrafficRoute's rules, or one catch-all `default`.
  const route = byTargetService(v.state.routes).get(key)?.winner;
  const declared = route?.spec.routes.map((r, i) => r.name ?? `${key}/${i}`) ?? ['default'];
  const backends = new Set(
    (route?.spec.routes ?? []).flatMap((r) =>
      r.backends.map((b) => {
        const [name = '', namespace = service.namespace] = b.service.split('.');
        return refKey({ namespace, name });
      }),
    ),
  );
  const measured = statByRoute(v.data, service, { routes: new Set(declared), backends });
  const known = knownResources(v.state, v.connected, 'services').has(refKey(service));
  if (!known && measured.size === 0)
    throw NotFoundError(`service ${service.name} in namespace ${service.namespace}`);
  const items: RouteItem[] = declared.map((r) => ({ route: r, stats: null }));
  for (const [name, acc] of measured) {
    const item = items.find((i) => i.route === name);
    if (item !== undefined) item.stats = acc.golden(v.covered);
    else items.push({ route: name, stats: acc.golden(v.covered) });
  }
  return { ...service, window: v.window, timestamp: v.timestamp, items };
}

const EDGE_KINDS: readonly StatKind[] = ['services', 'deployments', 'workloads', 'namespaces'];

async function edges(ctx: ApiContext, q: URLSearchParams): Promise<EdgesResponse> {
  const kindName = q.get('kind') || 'deployments';
  const kind = statKind(kindName);
  if (kind === undefined || !EDGE_KINDS.includes(kind))
    throw new ApiError(
      'TRELLIS_UNKNOWN_KIND',
      400,
      `edges are between services, deployments, workloads or namespaces, not "${kindName}"`,
    );
  const v = statsView(ctx, q);
  const ns = q.get('namespace') ?? '';
  const items = edgeItems(v, kind, (s, d) => ns === '' || s.namespace === ns || d.namespace === ns);
  return { kind, window: v.window, timestamp: v.timestamp, items };
}

/** The edges between resources of `kind` in the view's window; `keep` filters them. */
export function edgeItems(
  v: StatsView,
  kind: StatKind,
  keep?: (src: ResourceRef, dst: ResourceRef) => boolean,
): EdgeItem[] {
  return edgesOf(v.data, kind, kind, keep, callerResolver(v.state, kind)).map((e) => ({
    src: e.src,
    dst: e.dst,
    side: e.side,
    secured: e.secured,
    clientIds: e.clientIds,
    serverIds: e.serverIds,
    stats: e.acc.golden(v.covered),
  }));
}

export const UnknownStatKindError = (kind: string): ApiError =>
  new ApiError(
    'TRELLIS_UNKNOWN_KIND',
    400,
    `no stats for kind "${kind}": services, workloads, deployments or namespaces`,
  );

/** 90000 → 1m30s: windows as Go and kubectl write durations. */
export function formatWindow(ms: number): string {
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  const rest = s % 60;
  if (m === 0) return `${s}s`;
  return rest === 0 ? `${m}m` : `${m}m${rest}s`;
}

export const statsRoutes: ApiRoute[] = [
  ['GET', /^\/api\/v1\/stats\/edges$/, async (ctx, _r, _p, q) => edges(ctx, q)],
  [
    'GET',
    /^\/api\/v1\/stats\/services\/(?<ns>[^/]+)\/(?<name>[^/]+)\/routes$/,
    async (ctx, _r, p, q) => routes(ctx, q, { namespace: p.ns ?? '', name: p.name ?? '' }),
  ],
  ['GET', /^\/api\/v1\/stats\/(?<kind>[^/]+)$/, async (ctx, _r, p, q) => stat(ctx, q, p.kind ?? '')],
];
