// Metrics across `--workers N`: every worker keeps its own ProxyStats; the primary serves /metrics
// by asking each worker for its Registry as JSON over the cluster IPC channel and summing series by
// series with prom-client's AggregatorRegistry.aggregate() (counters and gauges summed, histogram
// buckets summed le by le; default process metrics follow their own aggregators).
//
// Why not AggregatorRegistry.clusterMetrics(): it asks every connected worker and fails the whole
// scrape after 5 s when one of them has not installed its listener yet (a worker still booting or
// being respawned). Here a worker is asked only after it announced itself, a worker that exits
// mid-scrape is dropped from that scrape, and the primary's own registry can be merged in.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Registry } from 'prom-client';
import { TrellisError } from '../errors.ts';

const HELLO = 'trellis:metrics-hello';
const WHO = 'trellis:metrics-who';
const REQUEST = 'trellis:metrics-req';
const RESPONSE = 'trellis:metrics-res';

let workerRegistry: Registry | undefined;

/**
 * Call in each worker once its ProxyStats exists. Answers the primary's metric requests and
 * announces the worker. Note: a 'message' listener keeps the IPC channel (and the worker) alive.
 */
export function setupWorkerMetrics(registry: Registry): void {
  if (!cluster.isWorker || process.send === undefined) {
    throw new TrellisError('TRELLIS_NOT_A_WORKER', 'setupWorkerMetrics must run in a node:cluster worker');
  }
  const first = workerRegistry === undefined;
  workerRegistry = registry;
  if (first) process.on('message', onPrimaryMessage);
  process.send({ type: HELLO });
}

function onPrimaryMessage(message: unknown): void {
  if (!isMessage(message)) return;
  if (message.type === WHO) {
    process.send?.({ type: HELLO });
    return;
  }
  if (message.type !== REQUEST || typeof message.id !== 'number') return;
  const id = message.id;
  const registry = workerRegistry;
  if (registry === undefined) return;
  registry.getMetricsAsJSON().then(
    (metrics) => process.send?.({ type: RESPONSE, id, metrics }),
    (err: unknown) => process.send?.({ type: RESPONSE, id, error: String(err) }),
  );
}

export interface ClusterMetricsOptions {
  /** The primary's own registry (e.g. its default process metrics), merged with the workers'. */
  primaryRegistry?: Registry;
  /** A scrape fails when an announced worker has not answered within this time (default 3000). */
  timeoutMs?: number;
}

interface Scrape {
  /** Worker ids that have not answered yet. */
  waiting: Set<number>;
  /** The primary's own registry has not been read yet. */
  primaryPending: boolean;
  results: unknown[][];
  resolve(text: string): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** In the primary: create before forking workers (late workers are asked to announce themselves). */
export class ClusterMetrics {
  readonly contentType = Registry.PROMETHEUS_CONTENT_TYPE;
  readonly #primaryRegistry: Registry | undefined;
  readonly #timeoutMs: number;
  readonly #announced = new Set<number>();
  readonly #scrapes = new Map<number, Scrape>();
  #nextId = 1;

  readonly #onMessage = (worker: Worker, message: unknown): void => {
    if (!isMessage(message)) return;
    if (message.type === HELLO) this.#announced.add(worker.id);
    else if (message.type === RESPONSE && typeof message.id === 'number')
      this.#onResponse(worker, message.id, message);
  };

  readonly #onGone = (worker: Worker): void => {
    this.#announced.delete(worker.id);
    for (const [id, scrape] of this.#scrapes) {
      if (scrape.waiting.delete(worker.id)) this.#finishIfDone(id, scrape);
    }
  };

  constructor(options: ClusterMetricsOptions = {}) {
    if (!cluster.isPrimary)
      throw new TrellisError('TRELLIS_NOT_PRIMARY', 'ClusterMetrics runs in the primary');
    this.#primaryRegistry = options.primaryRegistry;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    cluster.on('message', this.#onMessage);
    cluster.on('exit', this.#onGone);
    cluster.on('disconnect', this.#onGone);
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send({ type: WHO });
  }

  /** Prometheus text summed over the primary registry and every announced worker. */
  metrics(): Promise<string> {
    const id = this.#nextId++;
    return new Promise<string>((resolve, reject) => {
      const scrape: Scrape = {
        waiting: new Set(),
        primaryPending: this.#primaryRegistry !== undefined,
        results: [],
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#scrapes.delete(id);
          const ids = [...scrape.waiting].join(', ');
          reject(
            new TrellisError(
              'TRELLIS_METRICS_TIMEOUT',
              `workers ${ids} sent no metrics in ${this.#timeoutMs}ms`,
            ),
          );
        }, this.#timeoutMs),
      };
      this.#scrapes.set(id, scrape);
      for (const workerId of this.#announced) {
        const w = cluster.workers?.[workerId];
        if (w === undefined || !w.isConnected()) continue;
        scrape.waiting.add(workerId);
        w.send({ type: REQUEST, id });
      }
      if (this.#primaryRegistry === undefined) {
        this.#finishIfDone(id, scrape);
        return;
      }
      this.#primaryRegistry.getMetricsAsJSON().then(
        (metrics) => {
          scrape.primaryPending = false;
          scrape.results.push(metrics);
          this.#finishIfDone(id, scrape);
        },
        (err: unknown) => this.#fail(id, scrape, err),
      );
    });
  }

  /** Stops listening to cluster events; pending scrapes fail. */
  close(): void {
    cluster.off('message', this.#onMessage);
    cluster.off('exit', this.#onGone);
    cluster.off('disconnect', this.#onGone);
    for (const [id, scrape] of this.#scrapes) this.#fail(id, scrape, new Error('cluster metrics closed'));
  }

  #onResponse(worker: Worker, id: number, message: { metrics?: unknown; error?: unknown }): void {
    const scrape = this.#scrapes.get(id);
    if (scrape === undefined || !scrape.waiting.delete(worker.id)) return;
    if (typeof message.error === 'string' || !Array.isArray(message.metrics)) {
      this.#fail(
        id,
        scrape,
        new Error(`worker ${worker.id}: ${String(message.error ?? 'malformed metrics')}`),
      );
      return;
    }
    scrape.results.push(message.metrics);
    this.#finishIfDone(id, scrape);
  }

  #finishIfDone(id: number, scrape: Scrape): void {
    if (scrape.waiting.size > 0 || scrape.primaryPending || !this.#scrapes.has(id)) return;
    this.#scrapes.delete(id);
    clearTimeout(scrape.timer);
    try {
      AggregatorRegistry.aggregate(scrape.results).metrics().then(scrape.resolve, scrape.reject);
    } catch (err) {
      scrape.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #fail(id: number, scrape: Scrape, err: unknown): void {
    if (!this.#scrapes.delete(id)) return;
    clearTimeout(scrape.timer);
    scrape.reject(
      new TrellisError('TRELLIS_METRICS_FAILED', `metrics collection failed: ${String(err)}`, { cause: err }),
    );
  }
}

function isMessage(m: unknown): m is { type: string; id?: unknown; metrics?: unknown; error?: unknown } {
  return typeof m === 'object' && m !== null && typeof (m as { type?: unknown }).type === 'string';
}
