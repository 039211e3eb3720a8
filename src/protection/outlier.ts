// Passive outlier detection for one cluster, as Envoy's (and Istio's outlierDetection):
//   consecutive 5xx / consecutive gateway errors: counted per endpoint on every answer, ejected at
//     once when the count is reached (a failure before any answer, such as a refused connect or a
//     reset, counts as a gateway error, as Envoy maps it to 502-504);
//   success rate and failure percentage: evaluated every `interval` over that interval's answers.
// Ejection lasts baseEjectionTime × the endpoint's backoff, which grows by one per ejection and
// shrinks by one per sweep the endpoint spends in service (Envoy's ejectTimeBackoff), capped at
// MAX_EJECTION_MS (Envoy's max_ejection_time default) or the base time if that is longer. Ejected
// endpoints come back at the first sweep after their time is up. At most maxEjectionPercent of the
// endpoints are ejected at once, but at least one may be whenever the percentage is above 0 (as
// Envoy did before always_eject_one_host became opt-in: small clusters would otherwise never eject).
//
// The state lives on the endpoints (LbEndpoint.outlier, .ejected), so a detector built by a reload
// carries on where the previous one stopped.
import type { ProxyError } from '../errors.ts';
import type { LbEndpoint } from '../balance/index.ts';
import type { OutlierDetection } from '../model/policy.ts';
import type { EjectionDetector, ProtectionSeries } from './stats.ts';
import { failurePercentageOutliers, successRateOutliers } from './outlier-stats.ts';

/** Envoy's max_ejection_time default: ejection time stops growing here. */
export const MAX_EJECTION_MS = 300_000;

/** The status recorded for a try that failed before any answer (connect failure, reset). */
export const GATEWAY_FAILURE = 0;

/** Transport errors that count against the endpoint (Envoy's local-origin errors mapped to 5xx). */
const ENDPOINT_FAILURES = new Set([
  'TRELLIS_UPSTREAM_CONNECT_FAILED',
  'TRELLIS_UPSTREAM_CONNECT_TIMEOUT',
  'TRELLIS_UPSTREAM_RESET',
  'TRELLIS_UPSTREAM_PROTOCOL_ERROR',
]);

/** True when `err` says the endpoint failed (not the client, a limit, or a reload). */
export function isEndpointFailure(err: ProxyError): boolean {
  return ENDPOINT_FAILURES.has(err.code);
}

export interface OutlierOptions {
  /** Clock in ms (default performance.now). */
  now?: () => number;
}

export class OutlierDetector {
  readonly endpoints: readonly LbEndpoint[];
  readonly config: OutlierDetection;
  readonly #series: Pick<ProtectionSeries, 'ejections' | 'ejected'>;
  readonly #now: () => number;
  readonly #capMs: number;
  readonly #maxBackoff: number;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(
    config: OutlierDetection,
    endpoints: readonly LbEndpoint[],
    series: Pick<ProtectionSeries, 'ejections' | 'ejected'>,
    opts: OutlierOptions = {},
  ) {
    this.config = config;
    this.endpoints = endpoints;
    this.#series = series;
    this.#now = opts.now ?? (() => performance.now());
    const base = Math.max(config.baseEjectionTime, 1);
    this.#capMs = Math.max(MAX_EJECTION_MS, base);
    this.#maxBackoff = Math.ceil(this.#capMs / base);
    this.#updateGauge();
  }

  /** Sweeps every `interval` on an unref'd timer until stop(). */
  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#timer = setInterval(() => this.sweep(), Math.max(this.config.interval, 1));
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Hot path: the answer of one try (its HTTP status, or GATEWAY_FAILURE). */
  record(ep: LbEndpoint, status: number): void {
    if (this.#stopped) return;
    const o = ep.outlier;
    o.requests++;
    if (status !== GATEWAY_FAILURE && status < 500) {
      o.consecutive5xx = 0;
      o.consecutiveGatewayErrors = 0;
      return;
    }
    o.failures++;
    o.consecutive5xx++;
    const gateway = status === GATEWAY_FAILURE || status === 502 || status === 503 || status === 504;
    o.consecutiveGatewayErrors = gateway ? o.consecutiveGatewayErrors + 1 : 0;
    if (ep.ejected) return;
    const c = this.config;
    if (c.consecutiveGatewayErrors > 0 && o.consecutiveGatewayErrors >= c.consecutiveGatewayErrors) {
      this.eject(ep, 'consecutiveGatewayErrors');
    } else if (c.consecutive5xx > 0 && o.consecutive5xx >= c.consecutive5xx) {
      this.eject(ep, 'consecutive5xx');
    }
  }

  /** Ejects `ep` unless the cap forbids it; true when it was ejected. */
  eject(ep: LbEndpoint, detector: EjectionDetector): boolean {
    if (ep.ejected || !this.#mayEject()) return false;
    const o = ep.outlier;
    o.backoff = Math.min(o.backoff + 1, this.#maxBackoff);
    o.ejectedAtMs = this.#now();
    o.ejectionMs = Math.min(this.config.baseEjectionTime * o.backoff, this.#capMs);
    o.consecutive5xx = 0;
    o.consecutiveGatewayErrors = 0;
    ep.ejected = true;
    this.#series.ejections[detector].value++;
    this.#updateGauge();
    return true;
  }

  /**
   * The periodic pass: brings back endpoints whose ejection time is up, lowers the backoff of
   * endpoints in service, runs the success-rate and failure-percentage detectors over the answers
   * since the last sweep, then starts counting afresh.
   */
  sweep(): void {
    if (this.#stopped) return;
    const now = this.#now();
    let changed = false;
    for (const ep of this.endpoints) {
      const o = ep.outlier;
      if (!ep.ejected) {
        if (o.backoff > 0) o.backoff--;
      } else if (now - o.ejectedAtMs >= o.ejectionMs) {
        o.consecutive5xx = 0;
        o.consecutiveGatewayErrors = 0;
        ep.ejected = false;
        changed = true;
      }
    }
    if (changed) this.#updateGauge();
    const sr = this.config.successRate;
    if (sr !== undefined) {
      for (const ep of successRateOutliers(this.endpoints, sr)) this.eject(ep, 'successRate');
    }
    const fp = this.config.failurePercentage;
    if (fp !== undefined) {
      for (const ep of failurePercentageOutliers(this.endpoints, fp)) this.eject(ep, 'failurePercentage');
    }
    for (const ep of this.endpoints) {
      ep.outlier.requests = 0;
      ep.outlier.failures = 0;
    }
  }

  get ejectedCount(): number {
    let n = 0;
    for (const ep of this.endpoints) if (ep.ejected) n++;
    return n;
  }

  /** Room for one more ejection under maxEjectionPercent (at least one when it is above 0). */
  #mayEject(): boolean {
    const pct = this.config.maxEjectionPercent;
    const n = this.endpoints.length;
    if (pct <= 0 || n === 0) return false;
    const allowed = Math.max(1, Math.floor((n * pct) / 100));
    return this.ejectedCount < allowed;
  }

  #updateGauge(): void {
    this.#series.ejected.value = this.ejectedCount;
  }
}

/** A cluster without outlier detection: ejections a previous config made are lifted now. */
export function clearEjections(endpoints: readonly LbEndpoint[]): void {
  for (const ep of endpoints) {
    ep.ejected = false;
    ep.outlier.backoff = 0;
    ep.outlier.consecutive5xx = 0;
    ep.outlier.consecutiveGatewayErrors = 0;
  }
}
