// maxConnections and maxPendingRequests for a cluster's HTTP/1 pools. The limit is per cluster, as
// Envoy enforces Istio's `tcp.maxConnections` (one circuit breaker per upstream cluster, whatever
// the number of endpoints), and the budget is shared by the pools of the cluster's endpoints.
//
// A pool that needs a connection takes a slot; when none is free it may close an idle connection
// of another endpoint (so idle connections elsewhere cannot starve it), else the request waits in
// a bounded FIFO queue; past maxPendingRequests it is refused at once (503, overflow). A slot
// freed by a closing connection goes to the first waiter; a connection that becomes idle serves a
// waiter of its own endpoint, or closes so that the first waiter's endpoint can connect.
import type { ProxyError } from '../errors.ts';
import type { Series } from '../metrics/policy-stats.ts';

/** Envoy's default max_pending_requests: the queue's bound when only maxConnections is set. */
export const DEFAULT_MAX_PENDING = 1024;

/** A request waiting for a connection; made and started by its pool. */
export interface PendingRequest {
  readonly pool: BudgetedPool;
}

export interface BudgetedPool {
  /** Aborts one idle connection and gives its slot back at once; false when none is idle. */
  closeOneIdle(): boolean;
  /** `waiter`, queued by this pool, got a slot: open a connection for it. */
  grant(waiter: PendingRequest): void;
}

export class ConnectionBudget {
  readonly maxConnections: number;
  readonly maxPending: number;
  /** Connections of the cluster open or opening now. */
  open = 0;
  /** Answer for a request refused because the queue is full; counted in `overflow`. */
  readonly overflowError: ProxyError;
  readonly overflow: Series;
  readonly #waiting: PendingRequest[] = [];
  readonly #pools = new Set<BudgetedPool>();

  constructor(
    limits: { maxConnections: number; maxPendingRequests?: number | undefined },
    overflowError: ProxyError,
    overflow: Series,
  ) {
    this.maxConnections = limits.maxConnections;
    this.maxPending = limits.maxPendingRequests ?? DEFAULT_MAX_PENDING;
    this.overflowError = overflowError;
    this.overflow = overflow;
  }

  get pending(): number {
    return this.#waiting.length;
  }

  join(pool: BudgetedPool): void {
    this.#pools.add(pool);
  }

  leave(pool: BudgetedPool): void {
    this.#pools.delete(pool);
  }

  /** A slot for a new connection of `pool`, free or freed by closing an idle connection elsewhere. */
  tryOpen(pool: BudgetedPool): boolean {
    // Requests already waiting go first.
    if (this.#waiting.length > 0) return false;
    if (this.open < this.maxConnections) {
      this.open++;
      return true;
    }
    for (const other of this.#pools) {
      if (other === pool || !other.closeOneIdle()) continue;
      if (this.open < this.maxConnections) {
        this.open++;
        return true;
      }
    }
    return false;
  }

  /**
   * A slot over the limit: a request that a dead keep-alive socket must resend takes the slot its
   * connection held, which closing that connection may already have handed to a waiter.
   */
  forceOpen(): void {
    this.open++;
  }

  /** Queues `w`; false (counted as overflow) when the queue is full. */
  enqueue(w: PendingRequest): boolean {
    if (this.#waiting.length >= this.maxPending) {
      this.overflow.value++;
      return false;
    }
    this.#waiting.push(w);
    return true;
  }

  /** Drops a waiter whose request was cancelled; false when it was not queued any more. */
  remove(w: PendingRequest): boolean {
    const i = this.#waiting.indexOf(w);
    if (i < 0) return false;
    this.#waiting.splice(i, 1);
    return true;
  }

  get hasWaiters(): boolean {
    return this.#waiting.length > 0;
  }

  /** The first waiter of `pool`, off the queue: a connection of that pool just became free for it. */
  takeWaiter(pool: BudgetedPool): PendingRequest | undefined {
    const i = this.#waiting.findIndex((w) => w.pool === pool);
    return i < 0 ? undefined : this.#waiting.splice(i, 1)[0];
  }

  /** A counted connection closed: its slot goes to the first waiter. */
  closed(): void {
    if (this.open > 0) this.open--;
    while (this.open < this.maxConnections && this.#waiting.length > 0) {
      const w = this.#waiting.shift()!;
      this.open++;
      w.pool.grant(w);
    }
  }

  /** Nothing to stop: the budget lives as long as its pools (kept across reloads by GenerationCache). */
  stop(): void {}
}
