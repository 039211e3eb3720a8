// The healthy subset of a balancer's endpoints, with cumulative weights for weighted sampling.
// Rebuilt in place (no allocation) only when some endpoint's health changed: a process-wide
// generation counter says "something changed somewhere", the sum of this set's per-endpoint
// health versions says whether it was one of ours.
import { healthState, type LbEndpoint } from './endpoint.ts';

export class HealthySet {
  readonly endpoints: readonly LbEndpoint[];
  /** positions[0..count) index `endpoints`, in list order. */
  readonly positions: Int32Array;
  /** cumulative[i] = sum of the weights of positions[0..i]. */
  readonly cumulative: Float64Array;
  count = 0;
  totalWeight = 0;
  equalWeights = true;
  #generation = -1;
  #fingerprint = -1;

  constructor(endpoints: readonly LbEndpoint[]) {
    this.endpoints = endpoints;
    this.positions = new Int32Array(endpoints.length);
    this.cumulative = new Float64Array(endpoints.length);
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
    let count = 0;
    let total = 0;
    let firstWeight = 0;
    let equal = true;
    for (let i = 0; i < this.endpoints.length; i++) {
      const ep = this.endpoints[i]!;
      if (!ep.healthy) continue;
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
