// Request hedging: an idempotent request whose try has not produced a response head after a
// delay gets a second try on another endpoint; the first head wins and the other try is
// cancelled (attempts.ts runs it). The delay is the route's fixed `delay`, or its observed p95
// time to the response head, so only the slowest ~5% of requests are hedged. Hedges draw on the
// route's retry budget as retries do: a slow cluster cannot be sent a multiple of its load.
import type { Series } from '../metrics/policy-stats.ts';
import type { HedgePolicy } from '../model/policy.ts';
import { LatencySketch } from './latency-sketch.ts';
import { isIdempotent } from './retry-conditions.ts';

/** Hedging as compiled for one (route, cluster); shared by every request of that pair. */
export class HedgePlan {
  readonly maxHedges: number;
  /** trellis_hedges_total{route,cluster} */
  readonly sent: Series;
  private readonly fixedDelay: number | undefined;
  /** Present when the delay follows observed latency. */
  private readonly sketch: LatencySketch | null;

  constructor(policy: HedgePolicy, sent: Series, sketch?: LatencySketch) {
    this.maxHedges = policy.maxHedges;
    this.sent = sent;
    this.fixedDelay = policy.delay;
    this.sketch = policy.delay === undefined ? (sketch ?? new LatencySketch()) : null;
  }

  /** Hedging is for requests that are safe to send twice. */
  applies(method: string): boolean {
    return isIdempotent(method);
  }

  /** Milliseconds to wait before hedging; undefined while the p95 is not known yet. */
  delay(): number | undefined {
    if (this.sketch === null) return this.fixedDelay;
    const p95 = this.sketch.quantile(0.95);
    return p95 === undefined ? undefined : Math.max(1, p95);
  }

  /** Time from a try's start to its response head (answers only, not failures). */
  record(ms: number): void {
    this.sketch?.record(ms);
  }
}
