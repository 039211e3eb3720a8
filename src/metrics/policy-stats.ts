// Counters and gauges of traffic policy: retries, budget exhaustion, overflows, ejections, rate
// limiting, faults, mirroring, hedging, adaptive limits. As with ProxyStats, a layer takes its
// series (a plain object) when the config is compiled and bumps `.value` on the data path; the
// Registry reads them at scrape time. Labels come from config names only.
//
//   trellis_retries_total{route,cluster}                       retries sent (not first tries)
//   trellis_retry_budget_exhausted_total{route,cluster}        retries skipped: budget spent
//   trellis_hedges_total{route,cluster}                        hedged tries sent
//   trellis_overflow_total{cluster,limit}                      requests refused by a cluster limit (503)
//   trellis_ejections_total{cluster,detector}                  outlier ejections
//   trellis_ejected_endpoints{cluster}                         endpoints ejected now (gauge)
//   trellis_health_check_failures_total{cluster}               active health checks that failed
//   trellis_rate_limited_total{direction,route}                requests answered 429
//   trellis_faults_total{route,kind}                           injected delays and aborts
//   trellis_mirrored_total{route,cluster}                      requests mirrored
//   trellis_concurrency_limit{cluster}                         adaptive concurrency limit now (gauge)
//   trellis_denied_requests_total{reporter,reason}             refused by inbound security: rbac (403),
//                                                              jwt (401), mtls_required (connection refused)
import type { Metric, Registry, RegistryContentType } from 'prom-client';
import { ScrapedFamily, type FamilyType } from './scraped-family.ts';

export interface Series {
  value: number;
}

/** One metric family whose series are created at compile time and kept across reloads. */
export class SeriesFamily<L extends string> {
  readonly #series = new Map<string, { labels: Record<L, string>; series: Series }>();
  readonly #labels: readonly L[];

  constructor(
    registry: Registry<RegistryContentType>,
    name: string,
    help: string,
    type: FamilyType,
    labels: readonly L[],
  ) {
    this.#labels = labels;
    const family = new ScrapedFamily(name, help, type, {
      read: (out) => {
        for (const { labels: l, series } of this.#series.values())
          out.push({ labels: { ...l }, value: series.value });
      },
      reset: () => {
        if (type === 'counter') for (const { series } of this.#series.values()) series.value = 0;
      },
    });
    registry.registerMetric(family as unknown as Metric);
  }

  /** Same labels → same object. Call when compiling a config, never per request. */
  series(labels: Record<L, string>): Series {
    const key = this.#labels.map((l) => labels[l]).join('\u0000');
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, series: { value: 0 } };
      this.#series.set(key, entry);
    }
    return entry.series;
  }
}

export class PolicyStats {
  readonly retries: SeriesFamily<'route' | 'cluster'>;
  readonly retryBudgetExhausted: SeriesFamily<'route' | 'cluster'>;
  readonly hedges: SeriesFamily<'route' | 'cluster'>;
  readonly overflow: SeriesFamily<'cluster' | 'limit'>;
  readonly ejections: SeriesFamily<'cluster' | 'detector'>;
  readonly ejectedEndpoints: SeriesFamily<'cluster'>;
  readonly healthCheckFailures: SeriesFamily<'cluster'>;
  readonly rateLimited: SeriesFamily<'direction' | 'route'>;
  readonly faults: SeriesFamily<'route' | 'kind'>;
  readonly mirrored: SeriesFamily<'route' | 'cluster'>;
  readonly concurrencyLimit: SeriesFamily<'cluster'>;
  readonly denied: SeriesFamily<'reporter' | 'reason'>;

  constructor(registry: Registry<RegistryContentType>) {
    const f = <L extends string>(
      name: string,
      help: string,
      type: FamilyType,
      labels: readonly L[],
    ): SeriesFamily<L> => new SeriesFamily(registry, name, help, type, labels);
    this.retries = f('trellis_retries_total', 'Retries sent (first tries not counted).', 'counter', [
      'route',
      'cluster',
    ]);
    this.retryBudgetExhausted = f(
      'trellis_retry_budget_exhausted_total',
      'Retries not sent because the retry budget was spent.',
      'counter',
      ['route', 'cluster'],
    );
    this.hedges = f('trellis_hedges_total', 'Hedged tries sent.', 'counter', ['route', 'cluster']);
    this.overflow = f('trellis_overflow_total', 'Requests refused with 503 by a cluster limit.', 'counter', [
      'cluster',
      'limit',
    ]);
    this.ejections = f('trellis_ejections_total', 'Endpoints ejected by outlier detection.', 'counter', [
      'cluster',
      'detector',
    ]);
    this.ejectedEndpoints = f('trellis_ejected_endpoints', 'Endpoints ejected now.', 'gauge', ['cluster']);
    this.healthCheckFailures = f(
      'trellis_health_check_failures_total',
      'Active health checks that failed.',
      'counter',
      ['cluster'],
    );
    this.rateLimited = f(
      'trellis_rate_limited_total',
      'Requests answered 429 by a local rate limit.',
      'counter',
      ['direction', 'route'],
    );
    this.faults = f('trellis_faults_total', 'Faults injected (kind: delay or abort).', 'counter', [
      'route',
      'kind',
    ]);
    this.mirrored = f('trellis_mirrored_total', 'Requests mirrored to a shadow cluster.', 'counter', [
      'route',
      'cluster',
    ]);
    this.concurrencyLimit = f('trellis_concurrency_limit', 'Adaptive concurrency limit now.', 'gauge', [
      'cluster',
    ]);
    this.denied = f(
      'trellis_denied_requests_total',
      'Requests (and, for mtls_required, connections) refused by inbound security.',
      'counter',
      ['reporter', 'reason'],
    );
  }
}
