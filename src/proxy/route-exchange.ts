// What the proxy does around every routed request: count it, time it, and enforce the route's
// timeout. One object per request carries all three, so the hot path allocates once. The timeout
// can only be shortened once the request is known (a gRPC client's grpc-timeout, see
// src/resilience/deadline.ts); whatever fires first cancels the upstream exchange.
import { UpstreamTimeoutError, type ProxyError } from '../errors.ts';
import type { ProxyStats, RequestStats } from '../metrics/proxy-stats.ts';
import type { Cancel, HeaderList, ResponseController, ResponseHandler } from './types.ts';

export class RouteExchange implements ResponseHandler {
  private readonly next: ResponseHandler;
  private readonly stats: ProxyStats;
  private readonly counters: RequestStats;
  private readonly start: number;
  private status = 0;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  /** performance.now() by which the request must be answered; Infinity without a timeout. */
  deadline = Infinity;
  /** Set once the upstream exchange started; the timeout cancels it. */
  cancel: Cancel | null = null;

  constructor(
    next: ResponseHandler,
    stats: ProxyStats,
    counters: RequestStats,
    start: number,
    timeoutMs: number,
  ) {
    this.next = next;
    this.stats = stats;
    this.counters = counters;
    this.start = start;
    counters.requests++;
    if (timeoutMs > 0) {
      this.deadline = performance.now() + timeoutMs;
      this.timer = setTimeout(onTimeout, timeoutMs, this, timeoutMs);
    }
  }

  /** Brings the deadline forward to `ms` from now (never later than the route's own timeout). */
  shortenDeadline(ms: number): void {
    const at = performance.now() + ms;
    if (this.done || at >= this.deadline) return;
    this.deadline = at;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(onTimeout, Math.max(0, ms), this, Math.round(ms));
  }

  /**
   * The client went away: stop the upstream exchange, and still count the request (as 499, the
   * status nginx and Envoy log for a client that closed first) and clear its timer.
   */
  readonly abort: Cancel = (reason) => {
    if (this.done) return;
    this.finish(499);
    const cancel = this.cancel;
    this.cancel = null;
    cancel?.(reason);
  };

  timedOut(ms: number): void {
    if (this.done) return;
    const cancel = this.cancel;
    this.cancel = null;
    cancel?.(new Error('route timeout'));
    this.onResponseError(UpstreamTimeoutError(ms));
  }

  onInformational(status: number, headers: HeaderList): void {
    if (!this.done) this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    if (this.done) return;
    this.status = status;
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    return this.done || this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    if (this.done) return;
    this.finish(this.status);
    this.next.onResponseEnd(trailers);
  }

  onResponseError(err: ProxyError): void {
    if (this.done) return;
    // A failure after the head was sent still counts under the status the client saw.
    this.finish(this.status || err.status);
    this.next.onResponseError(err);
  }

  private finish(status: number): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.stats.recordResponse(this.counters, status, performance.now() - this.start);
  }
}

function onTimeout(ex: RouteExchange, ms: number): void {
  ex.timedOut(ms);
}

/** The RouteExchange an attempt layer was handed (attempt layers sit right below it), if it is one. */
export function routeExchangeOf(handler: ResponseHandler): RouteExchange | undefined {
  return handler instanceof RouteExchange ? handler : undefined;
}
