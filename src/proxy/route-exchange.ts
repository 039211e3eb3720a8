// What the proxy does around every routed request: count it, time it, and enforce the route's
// timeout. One object per request carries all three, so the hot path allocates once.
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
    if (timeoutMs > 0) this.timer = setTimeout(onTimeout, timeoutMs, this, timeoutMs);
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
