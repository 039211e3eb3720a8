// Hot-path request and connection counters, exposed to Prometheus at scrape time.
//
// prom-client's labelled inc()/observe() hash the label object on every call (see
// bench/micro/metrics.ts for the numbers). Here each (direction, listener, route, cluster) gets
// one plain object when a config is compiled; the data path bumps its numeric fields with no
// lookup and no allocation, and the Registry reads them only when /metrics is scraped.
//
// Metrics (label values come from config names only, never from paths or hosts):
//   trellis_requests_total{direction,listener,route,cluster}                counter
//   trellis_responses_total{direction,listener,route,cluster,status_class}  counter, status_class 1xx..5xx
//   trellis_request_duration_ms{direction,listener,route,cluster}           histogram, milliseconds
//   trellis_downstream_connections_active{listener}                        gauge
//   trellis_downstream_connections_total{listener}                         counter
//   trellis_upstream_connections_active{cluster}                           gauge
//   trellis_upstream_connections_total{cluster}                            counter
//   trellis_process_*, trellis_nodejs_*                                    prom-client default metrics
// Per caller → callee edge (Istio's standard metrics): see edge-stats.ts. Traffic policy: policy-stats.ts.
import { collectDefaultMetrics, type Metric, type Registry, type RegistryContentType } from 'prom-client';
import { EdgeStats } from './edge-stats.ts';
import { LATENCY_BOUNDS, LATENCY_BUCKETS_MS } from './histogram.ts';
import { PolicyStats } from './policy-stats.ts';
import { ScrapedFamily, type SeriesValue } from './scraped-family.ts';

/** Upper bounds of trellis_request_duration_ms buckets, in milliseconds (+Inf is implicit). */
export { LATENCY_BUCKETS_MS };
const BOUNDS = LATENCY_BOUNDS;
const BUCKET_COUNT = BOUNDS.length;

/**
 * The event-loop lag histogram samples every this many ms. prom-client's 10 ms wakes an idle sidecar
 * 100 times a second (~5 ms of CPU per second, measured); long stalls still show, short ones are
 * caught less often.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/** Index i of RequestStats.responses holds status class `${i + 1}xx`. */
export const STATUS_CLASSES: readonly string[] = Object.freeze(['1xx', '2xx', '3xx', '4xx', '5xx']);

export interface RequestLabels {
  direction: 'inbound' | 'outbound';
  listener: string;
  route: string;
  cluster: string;
}

/** Counters for one (direction, listener, route, cluster). Fields are bumped in place. */
export class RequestStats {
  readonly labels: Readonly<RequestLabels>;
  /** Requests dispatched; the caller increments it when a request starts. */
  requests = 0;
  /** Responses by status class: [1xx, 2xx, 3xx, 4xx, 5xx]. */
  readonly responses = new Float64Array(5);
  /** Non-cumulative counts per bucket of LATENCY_BUCKETS_MS; the last slot is +Inf. */
  readonly latencyBuckets = new Float64Array(BUCKET_COUNT + 1);
  latencySumMs = 0;
  latencyCount = 0;

  constructor(labels: RequestLabels) {
    this.labels = Object.freeze({ ...labels });
  }
}

/** Connection counts for one downstream listener or one upstream cluster. */
export class ConnectionStats {
  active = 0;
  total = 0;
}

export function connectionOpened(c: ConnectionStats): void {
  c.active++;
  c.total++;
}

export function connectionClosed(c: ConnectionStats): void {
  if (c.active > 0) c.active--;
}

export interface ProxyStatsOptions {
  /** Registers prom-client's process and Node.js metrics with the `trellis_` prefix (default true). */
  defaultMetrics?: boolean;
  /** Cap on the label sets of the edge families (default 10,000); the rest fold into `unknown`. */
  maxEdgeSeries?: number;
}

export class ProxyStats {
  readonly registry: Registry<RegistryContentType>;
  /** Counters of traffic policy (retries, overflows, ejections, ...); see policy-stats.ts. */
  readonly policy: PolicyStats;
  /** Edge families, labelled by source and destination workload (see edge-stats.ts). */
  readonly edge: EdgeStats;
  readonly #requests = new Map<string, RequestStats>();
  readonly #listeners = new Map<string, ConnectionStats>();
  readonly #clusters = new Map<string, ConnectionStats>();

  constructor(registry: Registry<RegistryContentType>, options: ProxyStatsOptions = {}) {
    this.registry = registry;
    this.policy = new PolicyStats(registry);
    this.edge = new EdgeStats(registry, { maxSeries: options.maxEdgeSeries });
    const families = [
      new ScrapedFamily('trellis_requests_total', 'Requests received, by route and cluster.', 'counter', {
        read: (out) => this.#readRequests(out),
        reset: () => this.#forEachRequest((s) => (s.requests = 0)),
      }),
      new ScrapedFamily('trellis_responses_total', 'Responses sent, by status class.', 'counter', {
        read: (out) => this.#readResponses(out),
        reset: () => this.#forEachRequest((s) => s.responses.fill(0)),
      }),
      new ScrapedFamily(
        'trellis_request_duration_ms',
        'Time from a complete request head to the end of the response, in milliseconds.',
        'histogram',
        {
          read: (out) => this.#readLatency(out),
          reset: () =>
            this.#forEachRequest((s) => {
              s.latencyBuckets.fill(0);
              s.latencySumMs = 0;
              s.latencyCount = 0;
            }),
        },
      ),
      connectionGauge(
        'trellis_downstream_connections_active',
        'Open client connections.',
        'listener',
        this.#listeners,
      ),
      connectionCounter(
        'trellis_downstream_connections_total',
        'Client connections accepted.',
        'listener',
        this.#listeners,
      ),
      connectionGauge(
        'trellis_upstream_connections_active',
        'Open upstream connections.',
        'cluster',
        this.#clusters,
      ),
      connectionCounter(
        'trellis_upstream_connections_total',
        'Upstream connections opened.',
        'cluster',
        this.#clusters,
      ),
    ];
    // ScrapedFamily implements what Registry reads from a metric (name, help, type, aggregator,
    // get, reset); prom-client's Metric type is a union of its own classes, hence the cast.
    for (const f of families) registry.registerMetric(f as unknown as Metric);
    if (options.defaultMetrics !== false) {
      collectDefaultMetrics({
        register: registry,
        prefix: 'trellis_',
        eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
      });
    }
  }

  /** Same labels → same object, across config reloads; call when compiling a config, not per request. */
  requestStats(labels: RequestLabels): RequestStats {
    const key = `${labels.direction}\u0000${labels.listener}\u0000${labels.route}\u0000${labels.cluster}`;
    let s = this.#requests.get(key);
    if (s === undefined) {
      s = new RequestStats(labels);
      this.#requests.set(key, s);
    }
    return s;
  }

  /**
   * Hot path: counts one response by status class and observes its latency. Statuses outside
   * 100–599 (e.g. 0 for "no response") count as 5xx. Allocates nothing.
   */
  recordResponse(s: RequestStats, status: number, latencyMs: number): void {
    const cls = (status / 100) | 0;
    s.responses[cls >= 1 && cls <= 5 ? cls - 1 : 4]!++;
    if (!(latencyMs >= 0)) latencyMs = 0; // NaN or a clock step backwards must not poison the sum
    let i = 0;
    while (i < BUCKET_COUNT && latencyMs > BOUNDS[i]!) i++;
    s.latencyBuckets[i]!++;
    s.latencySumMs += latencyMs;
    s.latencyCount++;
  }

  /** Per-listener downstream connection counts; bump with connectionOpened/connectionClosed. */
  listenerConnections(listener: string): ConnectionStats {
    return memo(this.#listeners, listener);
  }

  /** Per-cluster upstream connection counts; bump with connectionOpened/connectionClosed. */
  clusterConnections(cluster: string): ConnectionStats {
    return memo(this.#clusters, cluster);
  }

  /**
   * After a config swap: keeps only the counters of the config now in force (`live`), so the
   * series of removed routes stop being exported. Counters of kept routes carry on.
   */
  retainOnly(live: Iterable<RequestStats>): void {
    const keep = new Set(live);
    for (const [key, s] of this.#requests) if (!keep.has(s)) this.#requests.delete(key);
  }

  #forEachRequest(fn: (s: RequestStats) => void): void {
    for (const s of this.#requests.values()) fn(s);
  }

  #readRequests(out: SeriesValue[]): void {
    for (const s of this.#requests.values()) out.push({ labels: { ...s.labels }, value: s.requests });
  }

  #readResponses(out: SeriesValue[]): void {
    for (const s of this.#requests.values()) {
      for (let c = 0; c < STATUS_CLASSES.length; c++) {
        out.push({ labels: { ...s.labels, status_class: STATUS_CLASSES[c]! }, value: s.responses[c]! });
      }
    }
  }

  #readLatency(out: SeriesValue[]): void {
    const name = 'trellis_request_duration_ms';
    for (const s of this.#requests.values()) {
      let cumulative = 0;
      for (let i = 0; i <= BUCKET_COUNT; i++) {
        cumulative += s.latencyBuckets[i]!;
        const le = i < BUCKET_COUNT ? BOUNDS[i]! : '+Inf';
        out.push({ labels: { ...s.labels, le }, value: cumulative, metricName: `${name}_bucket` });
      }
      out.push({ labels: { ...s.labels }, value: s.latencySumMs, metricName: `${name}_sum` });
      out.push({ labels: { ...s.labels }, value: s.latencyCount, metricName: `${name}_count` });
    }
  }
}

function memo(map: Map<string, ConnectionStats>, key: string): ConnectionStats {
  let c = map.get(key);
  if (c === undefined) {
    c = new ConnectionStats();
    map.set(key, c);
  }
  return c;
}

function connectionGauge(
  name: string,
  help: string,
  label: string,
  map: Map<string, ConnectionStats>,
): ScrapedFamily {
  return new ScrapedFamily(name, help, 'gauge', {
    read: (out) => {
      for (const [key, c] of map) out.push({ labels: { [label]: key }, value: c.active });
    },
    reset: () => {}, // live state, not a count since start
  });
}

function connectionCounter(
  name: string,
  help: string,
  label: string,
  map: Map<string, ConnectionStats>,
): ScrapedFamily {
  return new ScrapedFamily(name, help, 'counter', {
    read: (out) => {
      for (const [key, c] of map) out.push({ labels: { [label]: key }, value: c.total });
    },
    reset: () => {
      for (const c of map.values()) c.total = 0;
    },
  });
}
