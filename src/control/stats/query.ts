// Golden metrics per resource, route and edge, from what the store holds for a window.
//
// Which side measures what, as Linkerd does:
//   stat    the resource's inbound (destination reporter): what its sidecars served
//   routes  the callers' outbound (source reporter): per route of the service, as its callers' routes
//           are named (TrafficRoute rules); a call from an unmeshed client is not seen here
//   edges   the server side (destination reporter: the client identity its mTLS proved), plus
//           client-side edges to destinations that report nothing (unmeshed)
//
// Resource kinds in universal mode:
//   workloads    Workload resources, the instances `trellis get workloads` lists (SMI pods)
//   deployments  service + version: the `workload` label of metrics, `app-version` (SMI deployments)
//   services     the Service a workload registered under
//   namespaces
import { LATENCY_BOUNDS } from '../../metrics/histogram.ts';
import { histogramQuantile } from './quantile.ts';
import type { SeriesDef, WindowData } from './store.ts';
import type { SumTable } from './sum-table.ts';

export type StatKind = 'workloads' | 'deployments' | 'services' | 'namespaces';
export type Side = 'source' | 'destination';

const KIND_NAMES: Readonly<Record<string, StatKind>> = {
  workloads: 'workloads',
  workload: 'workloads',
  wl: 'workloads',
  pods: 'workloads',
  pod: 'workloads',
  po: 'workloads',
  deployments: 'deployments',
  deployment: 'deployments',
  deploy: 'deployments',
  services: 'services',
  service: 'services',
  svc: 'services',
  namespaces: 'namespaces',
  namespace: 'namespaces',
  ns: 'namespaces',
};

export function statKind(name: string): StatKind | undefined {
  return KIND_NAMES[name.toLowerCase()];
}

/** A resource by namespace and name; a namespace has its own name as namespace. */
export interface ResourceRef {
  namespace: string;
  name: string;
}

export interface Golden {
  successCount: number;
  failureCount: number;
  /** successCount / all, null without requests. */
  successRate: number | null;
  /** Requests per second over the time the window covers. */
  rps: number;
  latencyMs: { p50: number | null; p90: number | null; p95: number | null; p99: number | null };
  /** Opaque TCP (tcp workloads, CONNECT, WebSocket); null when there was none. */
  tcp: {
    openConnections: number;
    receivedBytes: number;
    sentBytes: number;
    /** Bytes per second read from / written to the downstream (the caller), as Linkerd's READ/WRITE. */
    readBytesPerSec: number;
    writeBytesPerSec: number;
  } | null;
}

/** Sums of series that belong together, before they become Golden. */
export class Accumulator {
  success = 0;
  failure = 0;
  readonly latency = new Float64Array(LATENCY_BOUNDS.length + 1);
  open = 0;
  receivedBytes = 0;
  sentBytes = 0;
  #tcp = false;

  /** A row of HTTP sums (store.ts HTTP_WIDTH) at `at` in `v`. */
  addHttp(def: SeriesDef, v: Float64Array, at: number): void {
    if (def.failure) this.failure += v[at]!;
    else this.success += v[at]!;
    for (let k = 0; k < this.latency.length; k++) this.latency[k]! += v[at + 2 + k]!;
  }

  /** A row of TCP sums (store.ts TCP_WIDTH) at `at` in `v`. */
  addTcp(v: Float64Array, at: number): void {
    this.#tcp = true;
    this.receivedBytes += v[at + 2]!;
    this.sentBytes += v[at + 3]!;
  }

  /** Connections open now on a series (from the live streams). */
  addOpen(n: number): void {
    this.#tcp = true;
    this.open += n;
  }

  golden(coveredSec: number): Golden {
    const total = this.success + this.failure;
    const q = (x: number): number | null => round(histogramQuantile(x, LATENCY_BOUNDS, this.latency));
    const perSec = (n: number): number => (coveredSec > 0 ? round(n / coveredSec)! : 0);
    return {
      successCount: this.success,
      failureCount: this.failure,
      successRate: total > 0 ? this.success / total : null,
      rps: perSec(total),
      latencyMs: { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99) },
      tcp: this.#tcp
        ? {
            openConnections: this.open,
            receivedBytes: this.receivedBytes,
            sentBytes: this.sentBytes,
            readBytesPerSec: perSec(this.receivedBytes),
            writeBytesPerSec: perSec(this.sentBytes),
          }
        : null,
    };
  }
}

/** The seconds a window's data covers (rates divide by this). */
export function coveredSeconds(data: WindowData): number {
  return Math.max(0, data.toMs - data.fromMs) / 1000;
}

/**
 * The resource of `kind` on one side of a series: who called (`source`) or who was called. Undefined
 * when the series does not say (e.g. the calling instance, seen from the server).
 */
export function partyOf(def: SeriesDef, side: Side, kind: StatKind): ResourceRef | undefined {
  const l = def.labels;
  const own = def.reporter === side; // the reporting proxy is this side
  const namespace = side === 'source' ? l.source_namespace : l.destination_namespace;
  if (namespace === undefined || namespace === 'unknown') return undefined;
  switch (kind) {
    case 'namespaces':
      return { namespace, name: namespace };
    case 'workloads':
      return own ? { namespace, name: def.proxy.name } : undefined;
    case 'deployments': {
      const name = side === 'source' ? l.source_workload : l.destination_workload;
      return name === undefined || name === 'unknown' ? undefined : { namespace, name };
    }
    case 'services': {
      if (own) return { namespace, name: def.proxy.service };
      if (side === 'source') return undefined; // a caller's service is not in the labels
      const svc = l.destination_service ?? 'unknown';
      const suffix = `.${namespace}`;
      if (svc === 'unknown') return undefined;
      return { namespace, name: svc.endsWith(suffix) ? svc.slice(0, -suffix.length) : svc };
    }
  }
}

export const refKey = (r: ResourceRef): string => `${r.namespace}/${r.name}`;

/** Per resource of `kind`: what its own sidecars served (inbound). */
export function statByResource(data: WindowData, kind: StatKind): Map<string, Accumulator> {
  const out = new Map<string, Accumulator>();
  const acc = (def: SeriesDef): Accumulator | undefined => {
    if (def.reporter !== 'destination') return undefined;
    const r = partyOf(def, 'destination', kind);
    if (r === undefined) return undefined;
    const key = refKey(r);
    let a = out.get(key);
    if (a === undefined) out.set(key, (a = new Accumulator()));
    return a;
  };
  forEachRow(data.http, (def, v, at) => acc(def)?.addHttp(def, v, at));
  forEachRow(data.tcp, (def, v, at) => acc(def)?.addTcp(v, at));
  for (const [def, n] of data.open) acc(def)?.addOpen(n);
  return out;
}

/** Per route of `service`, as its callers' sidecars (outbound) counted them. */
export function statByRoute(
  data: WindowData,
  service: ResourceRef,
  /** The service's own routes and the backends they send to (a canary's reviews-v1, reviews-v2). */
  routed?: { routes: ReadonlySet<string>; backends: ReadonlySet<string> },
): Map<string, Accumulator> {
  const out = new Map<string, Accumulator>();
  const key = refKey(service);
  forEachRow(data.http, (def, v, at) => {
    if (def.reporter !== 'source') return;
    const dst = partyOf(def, 'destination', 'services');
    if (dst === undefined) return;
    const route = def.labels.route ?? 'unknown';
    // Callers label a request with the backend their route picked: one of this service's routes
    // sending to one of its backends is this service's traffic.
    const viaBackend = routed !== undefined && routed.routes.has(route) && routed.backends.has(refKey(dst));
    if (refKey(dst) !== key && !viaBackend) return;
    let a = out.get(route);
    if (a === undefined) out.set(route, (a = new Accumulator()));
    a.addHttp(def, v, at);
  });
  return out;
}

/** Calls `fn` with each series of `table` and where its row starts in `values`. */
export function forEachRow(
  table: SumTable<SeriesDef>,
  fn: (def: SeriesDef, values: Float64Array, at: number) => void,
): void {
  const { keys, values, width } = table;
  for (let i = 0; i < keys.length; i++) fn(keys[i]!, values, i * width);
}

/** Three decimals: a latency of 12.3456 ms or a rate of 0.0166… per second print as people read them. */
function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 1000) / 1000;
}
