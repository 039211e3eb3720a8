// The non-hash policies: round_robin, random, least_request and ewma. Each keeps a HealthySet and
// works in place on typed arrays; pick() allocates nothing.
import { decayedRtt, type LbEndpoint } from './endpoint.ts';
import { HealthySet } from './healthy-set.ts';
import type { Balancer } from './types.ts';

const TIE_TOLERANCE = 1 + 1e-9;

/**
 * Smooth weighted round robin (nginx): every pick adds each endpoint's weight to its running
 * score, takes the highest and subtracts the total from it. Weights 5,1,1 give a,a,b,a,c,a,a
 * instead of a,a,a,a,a,b,c. Equal weights take an O(1) rotation that yields the same order.
 */
export class RoundRobinBalancer implements Balancer {
  readonly policy = 'round_robin' as const;
  readonly #set: HealthySet;
  readonly #scores: Float64Array;
  readonly #random: () => number;
  #cursor = 0;

  constructor(endpoints: readonly LbEndpoint[], random: () => number, panicThreshold = 0) {
    this.#set = new HealthySet(endpoints, panicThreshold);
    this.#scores = new Float64Array(endpoints.length);
    this.#random = random;
    this.#reset();
  }

  pick(): LbEndpoint | undefined {
    const set = this.#set;
    if (set.refresh()) this.#reset();
    const count = set.count;
    if (count === 0) return undefined;
    if (set.equalWeights) {
      const slot = this.#cursor;
      this.#cursor = slot + 1 === count ? 0 : slot + 1;
      return set.endpointAt(slot);
    }
    const scores = this.#scores;
    let best = 0;
    let bestScore = -Infinity;
    for (let s = 0; s < count; s++) {
      const score = scores[s]! + set.endpointAt(s).weight;
      scores[s] = score;
      if (score > bestScore) {
        bestScore = score;
        best = s;
      }
    }
    scores[best] = bestScore - set.totalWeight;
    return set.endpointAt(best);
  }

  #reset(): void {
    this.#scores.fill(0);
    // A random starting point keeps many proxies from stepping on the same endpoint in lockstep.
    const count = this.#set.count;
    this.#cursor = count > 0 ? Math.min(Math.floor(this.#random() * count), count - 1) : 0;
  }
}

/** Weighted random: each healthy endpoint with probability weight / total. */
export class RandomBalancer implements Balancer {
  readonly policy = 'random' as const;
  readonly #set: HealthySet;
  readonly #random: () => number;

  constructor(endpoints: readonly LbEndpoint[], random: () => number, panicThreshold = 0) {
    this.#set = new HealthySet(endpoints, panicThreshold);
    this.#random = random;
  }

  pick(): LbEndpoint | undefined {
    const set = this.#set;
    set.refresh();
    if (set.count === 0) return undefined;
    return set.endpointAt(set.weightedSlot(this.#random()));
  }
}

/**
 * Power of two choices: draw two distinct healthy endpoints (weighted), keep the less loaded.
 * Load is inflight / weight, Envoy's dynamic weight with active_request_bias 1, so in steady state
 * concurrency settles in proportion to weight; with no load the draw itself honours the weights.
 */
export class LeastRequestBalancer implements Balancer {
  readonly policy = 'least_request' as const;
  readonly #set: HealthySet;
  readonly #random: () => number;

  constructor(endpoints: readonly LbEndpoint[], random: () => number, panicThreshold = 0) {
    this.#set = new HealthySet(endpoints, panicThreshold);
    this.#random = random;
  }

  pick(): LbEndpoint | undefined {
    const set = this.#set;
    set.refresh();
    if (set.count === 0) return undefined;
    const first = set.weightedSlot(this.#random());
    const a = set.endpointAt(first);
    if (set.count === 1) return a;
    const b = set.endpointAt(set.otherWeightedSlot(this.#random(), first));
    // a.inflight / a.weight <= b.inflight / b.weight, without dividing.
    return a.inflight * b.weight <= b.inflight * a.weight ? a : b;
  }
}

/**
 * Linkerd's balancer: power of two choices over the peak-EWMA cost, rtt estimate x (inflight + 1).
 * Candidates are drawn by weight; the cost itself ignores weight (latency already reflects an
 * endpoint's capacity). Estimates decay toward zero while an endpoint goes unpicked, so an endpoint
 * that was slow is retried once its penalty has faded below the others' live estimates.
 */
export class EwmaBalancer implements Balancer {
  readonly policy = 'ewma' as const;
  readonly #set: HealthySet;
  readonly #random: () => number;
  readonly #now: () => number;

  constructor(endpoints: readonly LbEndpoint[], random: () => number, now: () => number, panicThreshold = 0) {
    this.#set = new HealthySet(endpoints, panicThreshold);
    this.#random = random;
    this.#now = now;
  }

  pick(): LbEndpoint | undefined {
    const set = this.#set;
    set.refresh();
    if (set.count === 0) return undefined;
    const first = set.weightedSlot(this.#random());
    const a = set.endpointAt(first);
    if (set.count === 1) return a;
    const b = set.endpointAt(set.otherWeightedSlot(this.#random(), first));
    const now = this.#now();
    const costA = decayedRtt(a, now) * (a.inflight + 1);
    const costB = decayedRtt(b, now) * (b.inflight + 1);
    // Near-equal costs (float noise from decaying at different moments) count as a tie, which goes
    // to the first draw and so follows the weights.
    return costA <= costB * TIE_TOLERANCE ? a : b;
  }
}
