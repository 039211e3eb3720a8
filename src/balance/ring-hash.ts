// Consistent hash ring (Ketama style, as Envoy's ring_hash): each endpoint owns a number of points
// proportional to its weight; a key goes to the first point at or after its hash, walking on past
// points of endpoints outside the balancer's set (unhealthy, ejected). The ring is built once over
// every endpoint, so health changes only move the keys of the endpoints that changed.
//
// tableSize is a minimum, as Envoy's minimum_ring_size: each unit of weight gets the same number of
// points, rounded up to a power of two. An endpoint's points are h(key_0..key_k), so they do not
// depend on the other endpoints; rounding keeps the per-weight count, and thus every other
// endpoint's points, unchanged when one endpoint joins or leaves (until the count crosses a power
// of two). Removing one of N endpoints then moves only its ~1/N of keys.
import type { LbEndpoint } from './endpoint.ts';
import { HealthySet } from './healthy-set.ts';
import { murmur3String } from './hash.ts';
import type { Balancer } from './types.ts';

export const DEFAULT_RING_SIZE = 1024;
const MAX_RING_SIZE = 8_388_608;

export class RingHashBalancer implements Balancer {
  readonly policy = 'ring_hash' as const;
  readonly #set: HealthySet;
  readonly #random: () => number;
  /** Sorted point hashes and, at the same index, the owning endpoint's index. */
  readonly #points: Uint32Array;
  readonly #owners: Int32Array;

  constructor(
    endpoints: readonly LbEndpoint[],
    random: () => number,
    tableSize = DEFAULT_RING_SIZE,
    panicThreshold = 0,
  ) {
    this.#set = new HealthySet(endpoints, panicThreshold);
    this.#random = random;
    const size = Math.min(Math.max(Math.floor(tableSize) || DEFAULT_RING_SIZE, 1), MAX_RING_SIZE);
    let totalWeight = 0;
    for (const ep of endpoints) totalWeight += ep.weight;
    let perWeight = 1;
    while (perWeight * totalWeight < size) perWeight *= 2;
    while (perWeight > 1 && perWeight * totalWeight > MAX_RING_SIZE) perWeight /= 2;
    const hashes: number[] = [];
    const owners: number[] = [];
    endpoints.forEach((ep, index) => {
      const replicas = ep.weight * perWeight;
      for (let r = 0; r < replicas; r++) {
        hashes.push(murmur3String(`${ep.key}_${r}`));
        owners.push(index);
      }
    });
    // Ties (rare 32-bit collisions) are broken by endpoint key so every proxy builds the same ring.
    const order = hashes.map((_, i) => i);
    order.sort(
      (x, y) => hashes[x]! - hashes[y]! || compareKeys(endpoints[owners[x]!]!, endpoints[owners[y]!]!),
    );
    this.#points = Uint32Array.from(order, (i) => hashes[i]!);
    this.#owners = Int32Array.from(order, (i) => owners[i]!);
  }

  /** Number of points on the ring (for tests and diagnostics). */
  get size(): number {
    return this.#points.length;
  }

  pick(hashKey?: string): LbEndpoint | undefined {
    const set = this.#set;
    set.refresh();
    if (set.count === 0) return undefined;
    if (hashKey === undefined) return set.endpointAt(set.weightedSlot(this.#random()));
    const points = this.#points;
    const n = points.length;
    const h = murmur3String(hashKey);
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    // Walk forward (wrapping) to the first point of an endpoint in the set; one exists, so this ends.
    const member = set.member;
    for (let step = 0; step < n; step++) {
      const owner = this.#owners[(lo + step) % n]!;
      if (member[owner] === 1) return set.endpoints[owner];
    }
    return undefined;
  }
}

function compareKeys(a: LbEndpoint, b: LbEndpoint): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
