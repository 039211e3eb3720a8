// Golden metrics over time, one point per stats bucket (10 s), for the dashboard's charts (reader
// tokens may GET):
//   GET /api/v1/stats/series?kind=services|deployments|workloads|namespaces&namespace=NS&name=NAME&window=15m
// kind defaults to services, window to 15m (bounds and error as /stats/KIND). Every resource of the
// kind the mesh knows or the window's traffic names (filtered by namespace and name as /stats/KIND),
// each with a point per bucket of the window, oldest first, empty buckets included (rps 0, the rest
// null), at the same times for every item. As /stats/KIND, a point is what the resource's own
// sidecars served (inbound). With several control-plane replicas, each answers for the proxies
// connected to it.
import type { ApiContext, ApiRoute } from '../api.ts';
import { NotFoundError } from '../errors.ts';
import { connectedWorkloads, formatWindow, UnknownStatKindError, windowParam } from './api-stats.ts';
import { knownResources } from './inventory.ts';
import {
  coveredSeconds,
  refKey,
  statByResource,
  statKind,
  type ResourceRef,
  type StatKind,
} from './query.ts';

export const DEFAULT_SERIES_WINDOW = '15m';

export interface SeriesPoint {
  /** Epoch milliseconds of the bucket's start. */
  t: number;
  /** Requests per second over the time the bucket covers (0 without requests). */
  rps: number;
  /** Null without requests. */
  successRate: number | null;
  /** Milliseconds; null without requests. */
  p50: number | null;
  p99: number | null;
}

export interface SeriesItem extends ResourceRef {
  points: SeriesPoint[];
}

export interface SeriesResponse {
  kind: StatKind;
  window: string;
  /** The width of a bucket: points are this far apart. */
  stepMs: number;
  items: SeriesItem[];
}

const emptyPoint = (t: number): SeriesPoint => ({ t, rps: 0, successRate: null, p50: null, p99: null });

async function series(ctx: ApiContext, q: URLSearchParams): Promise<SeriesResponse> {
  const kindName = q.get('kind') || 'services';
  const kind = statKind(kindName);
  if (kind === undefined) throw UnknownStatKindError(kindName);
  const windowMs = windowParam(ctx, q, DEFAULT_SERIES_WINDOW);
  const ns = q.get('namespace') ?? '';
  const name = q.get('name') ?? '';
  const wanted = (r: ResourceRef): boolean =>
    (ns === '' || r.namespace === ns) && (name === '' || r.name === name);

  const buckets = ctx.push.stats.buckets(windowMs);
  const items = new Map<string, SeriesItem>();
  const itemOf = (key: string, ref: ResourceRef): SeriesItem => {
    let item = items.get(key);
    if (item === undefined) {
      item = { namespace: ref.namespace, name: ref.name, points: buckets.map((b) => emptyPoint(b.startMs)) };
      items.set(key, item);
    }
    return item;
  };
  for (const [key, k] of knownResources(ctx.view.state(), connectedWorkloads(ctx), kind))
    if (wanted(k.ref)) itemOf(key, k.ref);
  buckets.forEach((b, i) => {
    const covered = coveredSeconds(b);
    for (const [key, acc] of statByResource(b, kind)) {
      const [namespace = '', resource = ''] = key.split('/');
      const ref = { namespace, name: resource };
      if (!wanted(ref)) continue;
      const g = acc.golden(covered);
      itemOf(refKey(ref), ref).points[i] = {
        t: b.startMs,
        rps: g.rps,
        successRate: g.successRate,
        p50: g.latencyMs.p50,
        p99: g.latencyMs.p99,
      };
    }
  });
  if (name !== '' && items.size === 0)
    throw NotFoundError(`${kind} ${name}${ns !== '' && kind !== 'namespaces' ? ` in namespace ${ns}` : ''}`);
  return {
    kind,
    window: formatWindow(windowMs),
    stepMs: ctx.push.stats.bucketMs,
    items: [...items.values()].sort(
      (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
    ),
  };
}

export const seriesRoutes: ApiRoute[] = [
  ['GET', /^\/api\/v1\/stats\/series$/, async (ctx, _r, _p, q) => series(ctx, q)],
];
