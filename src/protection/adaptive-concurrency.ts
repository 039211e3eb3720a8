// Adaptive concurrency for one cluster: Envoy's gradient controller. The limit on requests in
// flight follows the latency the cluster shows:
//   minRTT     the latency when the upstream is not queueing: the median of MIN_RTT_SAMPLES answers,
//              measured at start, again every MIN_RTT_EVERY_WINDOWS windows, and when the limit has
//              sat at minLimit for WINDOWS_AT_MIN_BEFORE_PROBE windows (the baseline moved).
//   sampleRTT  the median latency of each sampleWindow;
//   gradient   (minRTT × (1 + MIN_RTT_BUFFER)) / sampleRTT, clamped to [0.5, 2];
//   limit      limit × gradient + √(limit × gradient), clamped to [minLimit, maxLimit].
// The minRTT is measured from live traffic without pinning the limit down (Envoy's behaviour when
// min_concurrency_limit is set apart from min_concurrency), so a measurement sheds no extra load.
// Latency is time to the response head of answers below 500: failures say nothing about queueing.
import type { AdaptiveConcurrency as AdaptiveConfig } from '../model/policy.ts';
import type { Series } from '../metrics/policy-stats.ts';

/** Envoy's min_rtt_calc_params.buffer: latency may exceed minRTT by this share before the limit drops. */
export const MIN_RTT_BUFFER = 0.25;
/** Answers that make one minRTT measurement (Envoy's request_count). */
export const MIN_RTT_SAMPLES = 50;
/** The minRTT is measured again after this many windows (Envoy: every 60 s). */
export const MIN_RTT_EVERY_WINDOWS = 60;
/** Envoy re-measures the minRTT after 5 windows at the minimum limit. */
export const WINDOWS_AT_MIN_BEFORE_PROBE = 5;
const GRADIENT_MIN = 0.5;
const GRADIENT_MAX = 2;
/** Samples kept per window; beyond it a random one is replaced (reservoir), so memory is fixed. */
const SAMPLE_CAPACITY = 1024;

export class AdaptiveConcurrency {
  readonly config: AdaptiveConfig;
  /** Requests in flight allowed now. */
  limit: number;
  /** Latest minRTT and sampleRTT in ms (0 before the first measurement). */
  minRttMs = 0;
  sampleRttMs = 0;
  /** Measuring the minRTT now (the limit does not move meanwhile). */
  probing = true;
  readonly #gauge: Series;
  readonly #random: () => number;
  readonly #samples = new Float64Array(SAMPLE_CAPACITY);
  #count = 0;
  #seen = 0;
  #windows = 0;
  #windowsAtMin = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(config: AdaptiveConfig, gauge: Series, random: () => number = Math.random) {
    this.config = config;
    this.#gauge = gauge;
    this.#random = random;
    this.limit = this.#clamp(config.initialLimit);
    gauge.value = this.limit;
  }

  /** Recomputes the limit every sampleWindow on an unref'd timer until stop(). */
  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.update(), Math.max(this.config.sampleWindow, 1));
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Hot path: may one more request start with `inflight` already in flight? */
  admits(inflight: number): boolean {
    return inflight < this.limit;
  }

  /** Hot path: the latency of one answer (ms to its response head). */
  sample(latencyMs: number): void {
    if (!(latencyMs >= 0)) return;
    this.#seen++;
    if (this.#count < SAMPLE_CAPACITY) this.#samples[this.#count++] = latencyMs;
    else {
      const i = Math.floor(this.#random() * this.#seen);
      if (i < SAMPLE_CAPACITY) this.#samples[i] = latencyMs;
    }
    if (this.probing && this.#count >= MIN_RTT_SAMPLES) {
      this.minRttMs = Math.max(this.#median(), 0.001);
      this.probing = false;
      this.#reset();
    }
  }

  /** End of a sample window: the new limit from this window's answers. */
  update(): void {
    if (this.probing || this.#count === 0) return;
    this.sampleRttMs = Math.max(this.#median(), 0.001);
    this.#reset();
    const gradient = Math.min(
      GRADIENT_MAX,
      Math.max(GRADIENT_MIN, (this.minRttMs * (1 + MIN_RTT_BUFFER)) / this.sampleRttMs),
    );
    const scaled = this.limit * gradient;
    this.limit = this.#clamp(Math.floor(scaled + Math.sqrt(scaled)));
    this.#gauge.value = this.limit;
    this.#windows++;
    this.#windowsAtMin = this.limit <= this.config.minLimit ? this.#windowsAtMin + 1 : 0;
    if (this.#windows >= MIN_RTT_EVERY_WINDOWS || this.#windowsAtMin >= WINDOWS_AT_MIN_BEFORE_PROBE) {
      this.probing = true;
      this.#windows = 0;
      this.#windowsAtMin = 0;
    }
  }

  #median(): number {
    const sorted = this.#samples.slice(0, this.#count).sort();
    return sorted[sorted.length >> 1]!;
  }

  #reset(): void {
    this.#count = 0;
    this.#seen = 0;
  }

  #clamp(n: number): number {
    const { minLimit, maxLimit } = this.config;
    return Math.min(Math.max(n, minLimit), Math.max(maxLimit, minLimit));
  }
}
