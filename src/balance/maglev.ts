// Maglev consistent hashing (Eisenbud et al., NSDI 2016) with Envoy's weighting: each endpoint
// walks its own permutation of the table (offset + i * skip mod M, M prime) and claims the next
// free slot in turn; an endpoint of weight w takes a turn in w of every maxWeight rounds. Lookup
// is one hash and one array read. The table covers the balancer's set only (healthy, not ejected;
// see HealthySet) and is rebuilt in place when the set changes.
import type { LbEndpoint } from './endpoint.ts';
import { HealthySet } from './healthy-set.ts';
import { murmur3String } from './hash.ts';
import type { Balancer } from './types.ts';

export const DEFAULT_MAGLEV_SIZE = 65_537;
const MAX_MAGLEV_SIZE = 8_388_593;
const OFFSET_SEED = 0x9747b28c;
const SKIP_SEED = 0x5bd1e995;

export class MaglevBalancer implements Balancer {
  readonly policy = 'maglev' as const;
  readonly #set: HealthySet;
  readonly #random: () => number;
  readonly #table: Int32Array;
  /** Per endpoint: permutation start and stride, fixed at construction. */
  readonly #offsets: Float64Array;
  readonly #skips: Float64Array;
  /** Build scratch, reused by every rebuild. */
  readonly #cursor: Float64Array;
  readonly #target: Float64Array;
  /** Endpoint indices in key order: the fill order, so every proxy builds the same table. */
  readonly #buildOrder: Int32Array;

  constructor(
    endpoints: readonly LbEndpoint[],
    random: () => number,
    tableSize = DEFAULT_MAGLEV_SIZE,
    panicThreshold = 0,
  ) {
    this.#set = new HealthySet(endpoints, panicThreshold);
    this.#random = random;
    const size = nextPrime(
      Math.min(Math.max(Math.floor(tableSize) || DEFAULT_MAGLEV_SIZE, 7), MAX_MAGLEV_SIZE),
    );
    this.#table = new Int32Array(size);
    const n = endpoints.length;
    this.#offsets = new Float64Array(n);
    this.#skips = new Float64Array(n);
    this.#cursor = new Float64Array(n);
    this.#target = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const key = endpoints[i]!.key;
      this.#offsets[i] = murmur3String(key, OFFSET_SEED) % size;
      this.#skips[i] = (murmur3String(key, SKIP_SEED) % (size - 1)) + 1;
    }
    const order = endpoints.map((_, i) => i);
    order.sort((x, y) =>
      endpoints[x]!.key < endpoints[y]!.key ? -1 : endpoints[x]!.key > endpoints[y]!.key ? 1 : x - y,
    );
    this.#buildOrder = Int32Array.from(order);
    this.#build();
  }

  /** Table size actually used (a prime). */
  get size(): number {
    return this.#table.length;
  }

  pick(hashKey?: string): LbEndpoint | undefined {
    const set = this.#set;
    if (set.refresh()) this.#build();
    if (set.count === 0) return undefined;
    if (hashKey === undefined) return set.endpointAt(set.weightedSlot(this.#random()));
    return set.endpoints[this.#table[murmur3String(hashKey) % this.#table.length]!];
  }

  #build(): void {
    const table = this.#table;
    table.fill(-1);
    const set = this.#set;
    if (set.count === 0) return;
    const endpoints = set.endpoints;
    let maxWeight = 0;
    for (let s = 0; s < set.count; s++) maxWeight = Math.max(maxWeight, set.endpointAt(s).weight);
    const order = this.#buildOrder;
    for (let i = 0; i < order.length; i++) {
      const e = order[i]!;
      this.#cursor[e] = this.#offsets[e]!;
      this.#target[e] = 0;
    }
    const size = table.length;
    let filled = 0;
    for (let round = 1; filled < size; round++) {
      for (let i = 0; i < order.length && filled < size; i++) {
        const e = order[i]!;
        if (set.member[e] !== 1) continue;
        const ep = endpoints[e]!;
        // Weight w takes a turn whenever round * w has caught up with its running target.
        if (round * ep.weight < this.#target[e]!) continue;
        this.#target[e] = this.#target[e]! + maxWeight;
        let c = this.#cursor[e]!;
        while (table[c] !== -1) c = advance(c, this.#skips[e]!, size);
        table[c] = e;
        this.#cursor[e] = advance(c, this.#skips[e]!, size);
        filled++;
      }
    }
  }
}

function advance(c: number, skip: number, size: number): number {
  const next = c + skip;
  return next >= size ? next - size : next;
}

function nextPrime(n: number): number {
  for (let p = Math.max(2, n); ; p++) if (isPrime(p)) return p;
}

function isPrime(n: number): boolean {
  if (n < 4) return n >= 2;
  if (n % 2 === 0) return false;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
