// The balancer's view of one endpoint: identity, weight, health and the live load signals
// (in-flight count and a peak-EWMA latency estimate) that the least_request and ewma policies read.
// One object per endpoint, shared by every balancer that lists it, so load seen through one
// cluster's balancer is visible to another that targets the same address.

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

export interface LbEndpoint {
  readonly key: string;
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** Setting it is detected by every balancer (see healthState); use createLbEndpoint. */
  healthy: boolean;
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
  #healthy: boolean;

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
 * so that in-flight counts and latency estimates survive an endpoint update. Health is copied in.
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
