// Linkerd's retry budget (as tower's retry::Budget): over the last `ttl`, retries may add at most
// `ratio` of the requests, plus a floor of `minRetriesPerSecond × ttl` so that a quiet route can
// still retry. Kept as a ring of per-slot counters (slots of one second, or shorter when ttl is
// under a second), so that a request costs two array writes and no allocation.
import type { RetryBudget as RetryBudgetPolicy } from '../model/policy.ts';

const MAX_SLOTS = 60;

export class RetryBudget {
  private readonly ratio: number;
  private readonly reserve: number;
  private readonly slotMs: number;
  private readonly requests: Float64Array;
  private readonly retries: Float64Array;
  private readonly now: () => number;
  private totalRequests = 0;
  private totalRetries = 0;
  /** Absolute slot number (time / slotMs) the counters at `current % slots` belong to. */
  private current: number;

  constructor(policy: RetryBudgetPolicy, now: () => number = performance.now.bind(performance)) {
    const ttl = Math.max(1, policy.ttl);
    const slots = Math.min(MAX_SLOTS, Math.max(1, Math.ceil(ttl / 1000)));
    this.ratio = policy.ratio;
    this.reserve = policy.minRetriesPerSecond * (ttl / 1000);
    this.slotMs = ttl / slots;
    this.requests = new Float64Array(slots);
    this.retries = new Float64Array(slots);
    this.now = now;
    this.current = Math.floor(now() / this.slotMs);
  }

  /** A request (first try) went out: it earns `ratio` of a retry. */
  deposit(): void {
    const i = this.advance();
    this.requests[i]!++;
    this.totalRequests++;
  }

  /** Takes one retry if the budget allows it; false when it is spent (nothing is taken then). */
  withdraw(): boolean {
    const i = this.advance();
    if (this.totalRetries + 1 > this.ratio * this.totalRequests + this.reserve) return false;
    this.retries[i]!++;
    this.totalRetries++;
    return true;
  }

  /** Retries still allowed right now (for tests and the admin page). */
  available(): number {
    this.advance();
    return Math.max(0, Math.floor(this.ratio * this.totalRequests + this.reserve - this.totalRetries));
  }

  /** Expires the slots that left the window; returns the index of the current slot. */
  private advance(): number {
    const slots = this.requests.length;
    const slot = Math.floor(this.now() / this.slotMs);
    const steps = Math.min(slot - this.current, slots);
    for (let s = 1; s <= steps; s++) {
      const k = (this.current + s) % slots;
      this.totalRequests -= this.requests[k]!;
      this.totalRetries -= this.retries[k]!;
      this.requests[k] = 0;
      this.retries[k] = 0;
    }
    if (slot > this.current) this.current = slot;
    return this.current % slots;
  }
}
