// The balancer's view of one endpoint: identity, weight, health and the live load signals
// (in-flight count and a peak-EWMA latency estimate) that the least_request and ewma policies read.
// One object per endpoint, shared by every balancer that lists it, so load seen through one
// cluster's balancer is visible to another that targets the same address.
//
// Health has three sources, each a flag whose change every balancer sees: `healthy` (what the
// config or registry says), `ejected` (outlier detection) and `checkHealthy` (active health
// checks). An endpoint is available when all three agree; see isAvailable.

/** Linkerd's default RTT: what an endpoint is assumed to cost before it has answered anything. */
export const DEFAULT_RTT_MS = 30;
/** Decay window of the peak EWMA (Linkerd and Finagle use 10 s). */
export const EWMA_DECAY_MS = 10_000;
/**
 * A failed request counts as at least this latency. Without it a backend that fails fast
 * (connection refused, instant 503) looks like the quickest one and attracts all traffic.
 */
export const FAILURE_PENALTY_MS = 1_000;
/** Floor of the estimate, so that in-flight counts still rank endpoints after a long idle decay. */
const MIN_RTT_MS = 0.001;

/**
 * What outlier detection (src/protection) remembers of one endpoint. It lives on the endpoint so
 * that a reload, which builds new detectors over the same endpoint objects, forgets nothing.
 */
export interface OutlierState {
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  /** Answers and failed answers since the detector's last sweep (success rate, failure percentage). */
  requests: number;
  failures: number;
  /** Envoy's ejection backoff: +1 per ejection, -1 per sweep spent not ejected; ejection time = base × it. */
  backoff: number;
  /** Clock reading (ms) of the current ejection, and how long it lasts. */
  ejectedAtMs: number;
  ejectionMs: number;
}

export interface LbEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** What the config says. Setting it is detected by every balancer (see healthState); use createLbEndpoint. */
  healthy: boolean;
  /** Ejected by outlier detection; setting it is detected by every balancer. */
  ejected: boolean;
  /** The active health check's verdict (true when none runs); setting it is detected by every balancer. */
  checkHealthy: boolean;
  readonly outlier: OutlierState;
  /** Requests started and not yet ended (onRequestStart / onRequestEnd). */
  inflight: number;
  /** Peak-EWMA latency estimate in ms. */
  ewmaMs: number;
  /** Clock reading (ms) of the last estimate update; -1 before the first. */
  ewmaAtMs: number;
  /** Latency samples recorded so far; the first replaces the default RTT outright. */
  ewmaSamples: number;
  /** Bumped on every health change; balancers sum these to notice changes cheaply. */
  readonly healthVersion: number;
}

/** Healthy by config, not ejected, not failing active health checks: a balancer may pick it. */
export function isAvailable(ep: LbEndpoint): boolean {
  return ep.healthy && !ep.ejected && ep.checkHealthy;
}

function freshOutlierState(): OutlierState {
  return {
    consecutive5xx: 0,
    consecutiveGatewayErrors: 0,
    requests: 0,
    failures: 0,
    backoff: 0,
    ejectedAtMs: 0,
    ejectionMs: 0,
  };
}

/** Process-wide count of health changes: a balancer re-examines its endpoints only when it moved. */
export const healthState = { generation: 0 };

class TrackedEndpoint implements LbEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  inflight = 0;
  ewmaMs = DEFAULT_RTT_MS;
  ewmaAtMs = -1;
  ewmaSamples = 0;
  healthVersion = 0;
  readonly outlier: OutlierState = freshOutlierState();
  #healthy: boolean;
  #ejected = false;
  #checkHealthy = true;

  constructor(address: string, port: number, weight: number, healthy: boolean) {
    this.address = address;
    this.port = port;
    this.weight = weight;
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
    this.#healthy = healthy;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  set healthy(value: boolean) {
    if (value === this.#healthy) return;
    this.#healthy = value;
    this.#changed();
  }

  get ejected(): boolean {
    return this.#ejected;
  }

  set ejected(value: boolean) {
    if (value === this.#ejected) return;
    this.#ejected = value;
    this.#changed();
  }

  get checkHealthy(): boolean {
    return this.#checkHealthy;
  }

  set checkHealthy(value: boolean) {
    if (value === this.#checkHealthy) return;
    this.#checkHealthy = value;
    this.#changed();
  }

  #changed(): void {
    this.healthVersion++;
    healthState.generation++;
  }
}

export function createLbEndpoint(e: {
  address: string;
  port: number;
  weight?: number;
  healthy?: boolean;
}): LbEndpoint {
  const w = e.weight;
  const weight = w !== undefined && Number.isFinite(w) && w >= 1 ? Math.floor(w) : 1;
  return new TrackedEndpoint(e.address, e.port, weight, e.healthy ?? true);
}

/** True for endpoints made by createLbEndpoint (whose health changes balancers can see). */
export function isTrackedEndpoint(ep: LbEndpoint): boolean {
  return ep instanceof TrackedEndpoint;
}

/**
 * Endpoints for a new endpoint list, reusing the objects of `previous` with the same key and weight
 * so that in-flight counts, latency estimates, ejections and health-check verdicts survive an
 * endpoint update. The config's health is copied in.
 */
export function reconcileEndpoints(
  previous: readonly LbEndpoint[],
  next: readonly { address: string; port: number; weight?: number; healthy?: boolean }[],
): LbEndpoint[] {
  const byKey = new Map<string, LbEndpoint>();
  for (const ep of previous) byKey.set(ep.key, ep);
  return next.map((e) => {
    const fresh = createLbEndpoint(e);
    const old = byKey.get(fresh.key);
    if (old === undefined || !isTrackedEndpoint(old)) return fresh;
    if (old.weight !== fresh.weight) {
      fresh.inflight = old.inflight;
      fresh.ewmaMs = old.ewmaMs;
      fresh.ewmaAtMs = old.ewmaAtMs;
      fresh.ewmaSamples = old.ewmaSamples;
      fresh.ejected = old.ejected;
      fresh.checkHealthy = old.checkHealthy;
      Object.assign(fresh.outlier, old.outlier);
      return fresh;
    }
    old.healthy = fresh.healthy;
    return old;
  });
}

export function onRequestStart(ep: LbEndpoint): void {
  ep.inflight++;
}

/**
 * Ends a request: drops the in-flight count and feeds the latency into the peak EWMA. A sample
 * above the estimate replaces it at once (peak); a lower one pulls it down in proportion to the
 * time since the last update, so recovery takes about EWMA_DECAY_MS. `nowMs` defaults to
 * performance.now(); pass the same clock as the balancer's `now` option.
 */
export function onRequestEnd(
  ep: LbEndpoint,
  latencyMs: number,
  failed: boolean,
  nowMs = performance.now(),
): void {
  if (ep.inflight > 0) ep.inflight--;
  let sample = Number.isFinite(latencyMs) && latencyMs > 0 ? latencyMs : 0;
  if (failed && sample < FAILURE_PENALTY_MS) sample = FAILURE_PENALTY_MS;
  if (sample >= ep.ewmaMs || ep.ewmaSamples === 0) {
    // Peak: a slower sample replaces the estimate. The default RTT is only a prior: the first
    // real sample replaces it either way.
    ep.ewmaMs = Math.max(sample, MIN_RTT_MS);
  } else {
    const elapsed = ep.ewmaAtMs >= 0 && nowMs > ep.ewmaAtMs ? nowMs - ep.ewmaAtMs : 0;
    const decay = Math.exp(-elapsed / EWMA_DECAY_MS);
    ep.ewmaMs = Math.max(ep.ewmaMs * decay + sample * (1 - decay), MIN_RTT_MS);
  }
  ep.ewmaAtMs = nowMs;
  ep.ewmaSamples++;
}

/** The estimate decayed toward zero for the time since its last update (as tower's PeakEwma::load). */
export function decayedRtt(ep: LbEndpoint, nowMs: number): number {
  if (ep.ewmaAtMs < 0) {
    ep.ewmaAtMs = nowMs;
    return ep.ewmaMs;
  }
  if (nowMs > ep.ewmaAtMs) {
    ep.ewmaMs = Math.max(ep.ewmaMs * Math.exp(-(nowMs - ep.ewmaAtMs) / EWMA_DECAY_MS), MIN_RTT_MS);
    ep.ewmaAtMs = nowMs;
  }
  return ep.ewmaMs;
}

/** Ends a request that never reached the endpoint (refused locally): in-flight drops, the estimate stays. */
export function onRequestAbandoned(ep: LbEndpoint): void {
  if (ep.inflight > 0) ep.inflight--;
}
