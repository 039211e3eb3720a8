// Recent response latencies of one route (time to the response head), for the hedging delay.
// Log-spaced buckets (each 20% wider than the last, 0.25 ms to ~25 s) in two rotating windows:
// a quantile reads the current and the previous window, so samples age out after two windows.
// Recording is an array increment; a quantile is recomputed at most every few samples.

const BUCKETS = 64;
const MIN_MS = 0.25;
const GROWTH = 1.2;
const LOG_GROWTH = Math.log(GROWTH);
/** Upper bound of each bucket, in ms. */
const BOUNDS = Float64Array.from({ length: BUCKETS }, (_, i) => MIN_MS * GROWTH ** i);
/** Samples between two recomputations of a cached quantile. */
const REFRESH_EVERY = 16;

export interface LatencySketchOptions {
  /** Length of one window (default 10 s). */
  windowMs?: number;
  /** Fewer samples than this in both windows: no estimate (default 20). */
  minSamples?: number;
  now?: () => number;
}

export class LatencySketch {
  private current = new Uint32Array(BUCKETS);
  private previous = new Uint32Array(BUCKETS);
  private currentCount = 0;
  private previousCount = 0;
  private windowStart: number;
  private readonly windowMs: number;
  private readonly minSamples: number;
  private readonly now: () => number;
  private cachedQ = -1;
  private cachedValue: number | undefined;
  private sinceCache = 0;

  constructor(opts: LatencySketchOptions = {}) {
    this.windowMs = opts.windowMs ?? 10_000;
    this.minSamples = opts.minSamples ?? 20;
    this.now = opts.now ?? performance.now.bind(performance);
    this.windowStart = this.now();
  }

  record(ms: number): void {
    this.rotate();
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.current[i]!++;
    this.currentCount++;
    this.sinceCache++;
  }

  /** The q-quantile (0..1) in ms, rounded up to a bucket bound; undefined with too few samples. */
  quantile(q: number): number | undefined {
    this.rotate();
    if (q === this.cachedQ && this.sinceCache < REFRESH_EVERY) return this.cachedValue;
    this.cachedQ = q;
    this.sinceCache = 0;
    this.cachedValue = this.compute(q);
    return this.cachedValue;
  }

  private compute(q: number): number | undefined {
    const total = this.currentCount + this.previousCount;
    if (total < this.minSamples || total === 0) return undefined;
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.current[i]! + this.previous[i]!;
      if (seen >= rank) return BOUNDS[i]!;
    }
    return BOUNDS[BUCKETS - 1]!;
  }

  private rotate(): void {
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs) return;
    const old = this.previous;
    old.fill(0);
    if (elapsed >= 2 * this.windowMs) {
      // Idle for two windows: everything is stale.
      this.current.fill(0);
      this.previousCount = 0;
    } else {
      this.previous = this.current;
      this.previousCount = this.currentCount;
      this.current = old;
    }
    this.currentCount = 0;
    this.windowStart = now;
    this.sinceCache = REFRESH_EVERY;
  }
}
