// Active health checks of one cluster's endpoints: every `interval` each endpoint is probed (one
// probe at a time per endpoint, each bounded by `timeout`); `unhealthyThreshold` failures in a row
// mark it unhealthy for balancing (LbEndpoint.checkHealthy), `healthyThreshold` successes in a row
// bring it back. Endpoints start healthy, and the first round runs at once. The verdict lives on
// the endpoint, so a checker a reload builds keeps it; only the streaks start over.
import type { LbEndpoint } from '../balance/index.ts';
import type { Series } from '../metrics/policy-stats.ts';
import type { HealthCheck } from '../model/policy.ts';
import type { Probe } from './probe.ts';

interface Streak {
  successes: number;
  failures: number;
  busy: boolean;
}

export class HealthChecker {
  readonly config: HealthCheck;
  readonly endpoints: readonly LbEndpoint[];
  readonly #probe: Probe;
  readonly #failures: Series;
  readonly #streaks = new Map<LbEndpoint, Streak>();
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  /** Probes finished (each counted once): lets tests wait for rounds without a clock. */
  probes = 0;

  constructor(config: HealthCheck, endpoints: readonly LbEndpoint[], probe: Probe, failures: Series) {
    this.config = config;
    this.endpoints = endpoints;
    this.#probe = probe;
    this.#failures = failures;
    for (const ep of endpoints) this.#streaks.set(ep, { successes: 0, failures: 0, busy: false });
  }

  start(): void {
    if (this.#timer !== null || this.#abort.signal.aborted) return;
    this.round();
    this.#timer = setInterval(() => this.round(), Math.max(this.config.interval, 1));
    this.#timer.unref();
  }

  /** Stops the timer and cuts probes in flight short; verdicts stay on the endpoints. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#abort.abort();
  }

  /** Probes every endpoint not already being probed. */
  round(): void {
    for (const [ep, streak] of this.#streaks) {
      if (streak.busy || this.#abort.signal.aborted) continue;
      streak.busy = true;
      void this.#probe(ep, Math.max(this.config.timeout, 1), this.#abort.signal).then((ok) => {
        streak.busy = false;
        this.#record(ep, streak, ok);
      });
    }
  }

  #record(ep: LbEndpoint, streak: Streak, ok: boolean): void {
    if (this.#abort.signal.aborted) return;
    this.probes++;
    if (ok) {
      streak.failures = 0;
      streak.successes++;
      if (streak.successes >= this.config.healthyThreshold) ep.checkHealthy = true;
      return;
    }
    this.#failures.value++;
    streak.successes = 0;
    streak.failures++;
    if (streak.failures >= this.config.unhealthyThreshold) ep.checkHealthy = false;
  }
}

/** A cluster without health checks: verdicts a previous config's checker left are lifted. */
export function clearCheckVerdicts(endpoints: readonly LbEndpoint[]): void {
  for (const ep of endpoints) ep.checkHealthy = true;
}
