// Everything that protects one cluster, built when a config is compiled and kept across reloads
// that leave its settings alone (GenerationCache): the admission gate and its in-flight counts,
// the HTTP/1 connection budget, the outlier detector, the health checker and the adaptive limit.
// Each timer is unref'd and stopped when the committed config no longer uses its object.
import type tls from 'node:tls';
import type { LbEndpoint } from '../balance/index.ts';
import { OverflowError } from '../errors.ts';
import type { Cluster } from '../model/schema.ts';
import { AdaptiveConcurrency } from './adaptive-concurrency.ts';
import { ClusterGate, ClusterLoad } from './cluster-gate.ts';
import { ConnectionBudget } from './connection-budget.ts';
import { GenerationCache } from './generations.ts';
import { clearCheckVerdicts, HealthChecker } from './health-check.ts';
import { clearEjections, OutlierDetector } from './outlier.ts';
import { httpProbe, tcpProbe, type Probe } from './probe.ts';
import type { ProtectionSeries } from './stats.ts';

export interface ClusterProtection {
  readonly gate: ClusterGate;
  /** Present when the cluster sets maxConnections (HTTP/1 pools share it). */
  readonly budget: ConnectionBudget | undefined;
  readonly outlier: OutlierDetector | undefined;
  readonly healthChecker: HealthChecker | undefined;
  readonly adaptive: AdaptiveConcurrency | undefined;
}

export interface ProtectOptions {
  /** Outlier detection's clock in ms (default performance.now). */
  now?: (() => number) | undefined;
  /** false: no timers; tests call sweep(), update() and round() themselves. Default true. */
  timers?: boolean | undefined;
  /** TLS to the endpoints, for HTTP health checks (computed only when needed). */
  tls?: (() => tls.ConnectionOptions | undefined) | undefined;
}

export class ProtectionRegistry {
  readonly #loads = new GenerationCache<ClusterLoad>();
  readonly #budgets = new GenerationCache<ConnectionBudget>();
  readonly #outliers = new GenerationCache<OutlierDetector>();
  readonly #checkers = new GenerationCache<HealthChecker>();
  readonly #limiters = new GenerationCache<AdaptiveConcurrency>();

  #all(): GenerationCache<{ stop(): void }>[] {
    return [this.#loads, this.#budgets, this.#outliers, this.#checkers, this.#limiters];
  }

  begin(): void {
    for (const c of this.#all()) c.begin();
  }

  /** Stops what the config in force does not use. */
  sweep(): void {
    for (const c of this.#all()) c.sweep();
  }

  stopAll(): void {
    for (const c of this.#all()) c.stopAll();
  }

  forCluster(
    cluster: Cluster,
    eps: readonly LbEndpoint[],
    series: ProtectionSeries,
    opts: ProtectOptions = {},
  ): ClusterProtection {
    const name = cluster.name;
    const timers = opts.timers !== false;
    // Detectors and checkers hold the endpoint objects: a new endpoint set needs new ones.
    const epsKey = eps.map((e) => `${e.key}*${e.weight}`).join(',');
    const limits = cluster.limits;
    const maxConnections = limits?.maxConnections;
    const budget =
      maxConnections === undefined
        ? undefined
        : this.#budgets.get(`${name}|${maxConnections}|${limits?.maxPendingRequests}`, () => {
            const pending = limits?.maxPendingRequests;
            return new ConnectionBudget(
              { maxConnections, maxPendingRequests: pending },
              OverflowError(name, 'maxPendingRequests'),
              series.overflow.maxPendingRequests,
            );
          });

    const od = cluster.outlierDetection;
    let outlier: OutlierDetector | undefined;
    if (od === undefined) clearEjections(eps);
    else {
      outlier = this.#outliers.get(`${name}|${JSON.stringify(od)}|${epsKey}`, () => {
        const d = new OutlierDetector(od, eps, series, { now: opts.now });
        if (timers) d.start();
        return d;
      });
    }

    const hc = cluster.healthCheck;
    let healthChecker: HealthChecker | undefined;
    if (hc === undefined) clearCheckVerdicts(eps);
    else {
      const key = `${name}|${JSON.stringify(hc)}|${cluster.protocol}|${JSON.stringify(cluster.tls ?? null)}|${JSON.stringify(cluster.mtls ?? null)}|${epsKey}`;
      healthChecker = this.#checkers.get(key, () => {
        const c = new HealthChecker(hc, eps, probeFor(cluster, opts), series.healthCheckFailures);
        if (timers) c.start();
        return c;
      });
    }

    const ac = cluster.adaptiveConcurrency;
    const adaptive =
      ac === undefined
        ? undefined
        : this.#limiters.get(`${name}|${JSON.stringify(ac)}`, () => {
            const a = new AdaptiveConcurrency(ac, series.concurrencyLimit);
            if (timers) a.start();
            return a;
          });

    const load = this.#loads.get(name, () => new ClusterLoad());
    const gate = new ClusterGate(name, load, limits, adaptive, series);
    return { gate, budget, outlier, healthChecker, adaptive };
  }
}

function probeFor(cluster: Cluster, opts: ProtectOptions): Probe {
  const http = cluster.healthCheck?.http;
  if (http === undefined) return tcpProbe;
  return httpProbe({
    path: http.path,
    expectedStatuses: http.expectedStatuses,
    protocol: cluster.protocol === 'http2' || cluster.protocol === 'grpc' ? 'http2' : 'http1',
    tls: cluster.tls !== undefined || cluster.mtls !== undefined ? opts.tls : undefined,
  });
}
