// What the proxy does around every routed request: count it, time it, and enforce the route's
// timeout. One object per request carries all three, so the hot path allocates once. The timeout
// can only be shortened once the request is known (a gRPC client's grpc-timeout, see
// src/resilience/deadline.ts); whatever fires first cancels the upstream exchange.
// With edge metrics on (edge-metrics.ts) it also learns who the peer is, the body sizes and the
// gRPC status, and counts the request per edge when it ends.
import type { LbEndpoint } from '../balance/index.ts';
import { UpstreamTimeoutError, type ProxyError } from '../errors.ts';
import { grpcStatusForHttp } from '../http2/headers.ts';
import {
  GRPC_NONE,
  GRPC_UNKNOWN,
  type EdgeParty,
  type EdgeRoute,
  type EdgeStats,
} from '../metrics/edge-stats.ts';
import type { ProxyStats, RequestStats } from '../metrics/proxy-stats.ts';
import type { ClusterRuntime, UpstreamObserver } from './cluster.ts';
import type { EdgeDestinations } from './edge-metrics.ts';
import type {
  BodySink,
  Cancel,
  HeaderList,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from './types.ts';

const GRPC_CANCELLED = 1;

export class RouteExchange implements ResponseHandler, UpstreamObserver {
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
  // Edge metrics: unset (and unused) unless trackEdge() was called.
  private edgeStats: EdgeStats | undefined;
  private edgeRoute: EdgeRoute | undefined;
  /** The other side: the caller (inbound), or the destination picked last (outbound). */
  private peer: EdgeParty | undefined;
  private targets: EdgeDestinations | undefined;
  private grpcStatus = GRPC_NONE;
  /** Request body bytes: the declared length, or what CountedBody saw pass. */
  requestBytes = 0;
  private responseBytes = 0;

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

  /** Counts this request in the edge families too (see EdgeReporter.track). */
  trackEdge(
    stats: EdgeStats,
    route: EdgeRoute,
    peer: EdgeParty,
    req: ProxyRequest,
    targets: EdgeDestinations | undefined,
  ): void {
    this.edgeStats = stats;
    this.edgeRoute = route;
    this.peer = peer;
    this.targets = targets;
    if (req.grpc) this.grpcStatus = GRPC_UNKNOWN;
    if (req.bodyLength > 0) this.requestBytes = req.bodyLength;
  }

  /** The cluster picked an endpoint: that endpoint's workload is the destination (the last try's). */
  upstreamPicked(cluster: ClusterRuntime, ep: LbEndpoint): void {
    const t = this.targets;
    // A mirror's copy of the request reaches another cluster: not ours to count.
    if (t !== undefined && t.cluster === cluster) this.peer = t.endpoints.get(ep) ?? t.service;
  }

  /** A body of unknown length, counted as it is read. */
  countedBody(body: RequestBody): RequestBody {
    return new CountedBody(body, this);
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
    if (this.grpcStatus === GRPC_UNKNOWN) this.grpcStatus = GRPC_CANCELLED;
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
    if (this.grpcStatus !== GRPC_NONE) this.grpcStatus = grpcStatusIn(headers) ?? this.grpcStatus;
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    if (this.done) return true;
    this.responseBytes += chunk.length;
    return this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    if (this.done) return;
    if (this.grpcStatus !== GRPC_NONE && trailers !== null)
      this.grpcStatus = grpcStatusIn(trailers) ?? this.grpcStatus;
    this.finish(this.status);
    this.next.onResponseEnd(trailers);
  }

  onResponseError(err: ProxyError): void {
    if (this.done) return;
    // A failure after the head was sent still counts under the status the client saw.
    const status = this.status || err.status;
    // The gRPC status the downstream adapter answers (or resets) this failure with.
    if (this.grpcStatus === GRPC_UNKNOWN) this.grpcStatus = grpcStatusForHttp(err.status);
    this.finish(status);
    this.next.onResponseError(err);
  }

  private finish(status: number): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const latencyMs = performance.now() - this.start;
    this.stats.recordResponse(this.counters, status, latencyMs);
    if (this.edgeRoute !== undefined)
      this.edgeStats!.record(
        this.edgeRoute,
        this.peer!,
        status,
        this.grpcStatus,
        latencyMs,
        this.requestBytes,
        this.responseBytes,
      );
  }
}

/** A request body of unknown length (chunked, HTTP/2 without content-length), counted as it streams. */
class CountedBody implements RequestBody, BodySink {
  private readonly inner: RequestBody;
  private readonly exchange: RouteExchange;
  private sink: BodySink | null = null;

  constructor(inner: RequestBody, exchange: RouteExchange) {
    this.inner = inner;
    this.exchange = exchange;
  }

  pipe(sink: BodySink): void {
    this.sink = sink;
    this.inner.pipe(this);
  }

  resume(): void {
    this.inner.resume();
  }

  data(chunk: Buffer): boolean {
    this.exchange.requestBytes += chunk.length;
    return this.sink!.data(chunk);
  }

  end(trailers: HeaderList | null): void {
    this.sink!.end(trailers);
  }

  error(err: Error): void {
    this.sink!.error(err);
  }
}

/** The grpc-status in a header block (trailers, or a trailers-only head); undefined when absent. */
function grpcStatusIn(headers: HeaderList): number | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'grpc-status') continue;
    const n = Number(headers[i + 1]);
    // Codes past 16 are not defined: clients read them as UNKNOWN (2).
    return Number.isInteger(n) && n >= 0 && n <= 16 ? n : 2;
  }
  return undefined;
}

function onTimeout(ex: RouteExchange, ms: number): void {
  ex.timedOut(ms);
}

/** The RouteExchange an attempt layer was handed (attempt layers sit right below it), if it is one. */
export function routeExchangeOf(handler: ResponseHandler): RouteExchange | undefined {
  return handler instanceof RouteExchange ? handler : undefined;
}
