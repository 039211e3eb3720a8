// Admission to a cluster: maxConcurrentRequests and the adaptive concurrency limit are checked
// before an endpoint is picked, and a refused request is answered at once (503 with
// x-trellis-overloaded, counted in trellis_overflow_total), never queued. maxConcurrentRetries is
// checked by the retry layer through tryStartRetry / endRetry.
//
// The counts live in a ClusterLoad shared by every config generation of the cluster: requests a
// previous config admitted still count against the limits until they end.
import { OverflowError, type ProxyError } from '../errors.ts';
import type { ClusterLimits } from '../model/policy.ts';
import type { AdaptiveConcurrency } from './adaptive-concurrency.ts';
import type { ProtectionSeries } from './stats.ts';

/** In-flight counts of one cluster (by name), kept across reloads. */
export class ClusterLoad {
  /** Requests admitted and not yet ended. */
  requests = 0;
  /** Retries started (tryStartRetry) and not yet ended (endRetry). */
  retries = 0;

  stop(): void {}
}

export class ClusterGate {
  readonly load: ClusterLoad;
  readonly #maxRequests: number;
  readonly #maxRetries: number;
  readonly #adaptive: AdaptiveConcurrency | undefined;
  readonly #series: ProtectionSeries;
  // Made once: an Error records a stack when created, and shedding must stay cheap under overload.
  readonly #overflowRequests: ProxyError;
  readonly #overflowAdaptive: ProxyError;

  constructor(
    cluster: string,
    load: ClusterLoad,
    limits: ClusterLimits | undefined,
    adaptive: AdaptiveConcurrency | undefined,
    series: ProtectionSeries,
  ) {
    this.load = load;
    this.#maxRequests = limits?.maxConcurrentRequests ?? Infinity;
    this.#maxRetries = limits?.maxConcurrentRetries ?? Infinity;
    this.#adaptive = adaptive;
    this.#series = series;
    this.#overflowRequests = OverflowError(cluster, 'maxConcurrentRequests');
    this.#overflowAdaptive = OverflowError(cluster, 'adaptive concurrency');
  }

  /** Admits one request (call release() once when it ends), or returns the error that refuses it. */
  admit(): ProxyError | null {
    const inflight = this.load.requests;
    if (inflight >= this.#maxRequests) {
      this.#series.overflow.maxConcurrentRequests.value++;
      return this.#overflowRequests;
    }
    if (this.#adaptive !== undefined && !this.#adaptive.admits(inflight)) {
      this.#series.overflow.adaptive.value++;
      return this.#overflowAdaptive;
    }
    this.load.requests = inflight + 1;
    return null;
  }

  release(): void {
    if (this.load.requests > 0) this.load.requests--;
  }

  tryStartRetry(): boolean {
    if (this.load.retries >= this.#maxRetries) {
      this.#series.overflow.maxConcurrentRetries.value++;
      return false;
    }
    this.load.retries++;
    return true;
  }

  endRetry(): void {
    if (this.load.retries > 0) this.load.retries--;
  }
}
