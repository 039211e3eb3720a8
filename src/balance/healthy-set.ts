// The endpoints a balancer may pick from, with cumulative weights for weighted sampling. Normally
// the available ones (healthy by config, not ejected, passing health checks: isAvailable). In
// panic mode, when fewer than `panicThreshold` percent of all endpoints are available, every
// endpoint the config calls healthy instead: ejections and failed health checks are ignored, as
// Envoy's healthy_panic_threshold does, so that a wave of ejections cannot pile the whole load on
// the few endpoints left. Endpoints the config marks unhealthy (draining, gone) never take traffic.
//
// Rebuilt in place (no allocation) only when some endpoint's health changed: a process-wide
// generation counter says "something changed somewhere", the sum of this set's per-endpoint
// health versions says whether it was one of ours.
import { healthState, isAvailable, type LbEndpoint } from './endpoint.ts';

export class HealthySet {
  readonly endpoints: readonly LbEndpoint[];
  /** positions[0..count) index `endpoints`, in list order. */
  readonly positions: Int32Array;
  /** cumulative[i] = sum of the weights of positions[0..i]. */
  readonly cumulative: Float64Array;
  /** member[i] is 1 when endpoints[i] is in the set. */
  readonly member: Uint8Array;
  /** Percentage of available endpoints below which the set is in panic mode; 0 disables it. */
  readonly panicThreshold: number;
  count = 0;
  totalWeight = 0;
  equalWeights = true;
  /** True while in panic mode. */
  panic = false;
  #generation = -1;
  #fingerprint = -1;

  constructor(endpoints: readonly LbEndpoint[], panicThreshold = 0) {
    this.endpoints = endpoints;
    this.positions = new Int32Array(endpoints.length);
    this.cumulative = new Float64Array(endpoints.length);
    this.member = new Uint8Array(endpoints.length);
    this.panicThreshold = Number.isFinite(panicThreshold) ? Math.min(Math.max(panicThreshold, 0), 100) : 0;
    this.refresh();
  }

  /** Brings the set up to date; true when its membership was rebuilt. Cheap when nothing changed. */
  refresh(): boolean {
    if (this.#generation === healthState.generation) return false;
    this.#generation = healthState.generation;
    let fingerprint = 0;
    for (let i = 0; i < this.endpoints.length; i++) fingerprint += this.endpoints[i]!.healthVersion;
    if (fingerprint === this.#fingerprint) return false;
    this.#fingerprint = fingerprint;
    const n = this.endpoints.length;
    let available = 0;
    for (let i = 0; i < n; i++) if (isAvailable(this.endpoints[i]!)) available++;
    this.panic = this.panicThreshold > 0 && n > 0 && available * 100 < this.panicThreshold * n;
    let count = 0;
    let total = 0;
    let firstWeight = 0;
    let equal = true;
    for (let i = 0; i < n; i++) {
      const ep = this.endpoints[i]!;
      const inSet = this.panic ? ep.healthy : isAvailable(ep);
      this.member[i] = inSet ? 1 : 0;
      if (!inSet) continue;
      if (count === 0) firstWeight = ep.weight;
      else if (ep.weight !== firstWeight) equal = false;
      total += ep.weight;
      this.positions[count] = i;
      this.cumulative[count] = total;
      count++;
    }
    this.count = count;
    this.totalWeight = total;
    this.equalWeights = equal;
    return true;
  }

  /** Healthy-list slot chosen with probability weight / totalWeight. Requires count > 0. */
  weightedSlot(r: number): number {
    if (this.equalWeights) return clampSlot(Math.floor(r * this.count), this.count);
    return this.#slotAt(r * this.totalWeight);
  }

  /** A second slot, weighted, never equal to `first`. Requires count >= 2. */
  otherWeightedSlot(r: number, first: number): number {
    if (this.equalWeights) {
      const s = clampSlot(Math.floor(r * (this.count - 1)), this.count - 1);
      return s >= first ? s + 1 : s;
    }
    const firstEnd = this.cumulative[first]!;
    const firstWeight = this.endpoints[this.positions[first]!]!.weight;
    let x = r * (this.totalWeight - firstWeight);
    if (x >= firstEnd - firstWeight) x += firstWeight;
    const s = this.#slotAt(x);
    return s === first ? (first + 1) % this.count : s;
  }

  endpointAt(slot: number): LbEndpoint {
    return this.endpoints[this.positions[slot]!]!;
  }

  /** Smallest slot whose cumulative weight exceeds x (binary search). */
  #slotAt(x: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

function clampSlot(s: number, count: number): number {
  return s < count ? s : count - 1;
}
