// Fault injection per route (Istio's HTTPFaultInjection, Envoy's fault filter): delay a share of
// requests by a fixed time, abort a share with an HTTP status or a gRPC status. As in Envoy, the
// delay comes first and the abort is decided after it. An abort never reaches upstream; a gRPC
// request is answered trailers-only with grpc-status (a configured HTTP status is mapped to its
// gRPC status, and a configured gRPC status answers a plain HTTP request with the HTTP status
// Envoy maps it to). The delay is outside the route timeout, which starts when the backend is
// picked (Envoy's router timer also starts after the fault filter).
import { FaultAbortError, type ProxyError } from '../errors.ts';
import type { Series } from '../metrics/policy-stats.ts';
import type { FaultPolicy } from '../model/policy.ts';
import type { RequestLayerFactory } from '../proxy/route-runtime.ts';
import type { Cancel, Dispatch, Layer, ProxyRequest, RequestBody, ResponseHandler } from '../proxy/types.ts';
import { httpStatusForGrpc, parseGrpcStatus, replyError, replyGrpc } from './local-reply.ts';
import { sampled } from './percent.ts';

const noop: Cancel = () => {};
const ABORT_MESSAGE = 'fault injected: request aborted';

/** What one route's fault policy does, prepared once per config. */
class Fault {
  readonly delayMs: number;
  readonly delayPercent: number;
  readonly abortPercent: number;
  /** gRPC status to abort with, or -1 when the abort names an HTTP status. */
  private readonly grpcStatus: number;
  private readonly httpError: ProxyError;
  private readonly delays: Series;
  private readonly aborts: Series;

  constructor(policy: FaultPolicy, delays: Series, aborts: Series) {
    this.delayMs = policy.delay?.fixed ?? 0;
    this.delayPercent = policy.delay === undefined ? 0 : policy.delay.percent;
    const abort = policy.abort;
    this.abortPercent = abort === undefined ? 0 : abort.percent;
    const grpc = abort?.grpcStatus === undefined ? undefined : parseGrpcStatus(abort.grpcStatus);
    // An unknown gRPC status name is refused when the route table is validated; UNKNOWN if one slips by.
    this.grpcStatus = abort?.grpcStatus === undefined ? -1 : (grpc ?? 2);
    this.httpError = FaultAbortError(
      this.grpcStatus >= 0 ? httpStatusForGrpc(this.grpcStatus) : (abort?.httpStatus ?? 503),
    );
    this.delays = delays;
    this.aborts = aborts;
  }

  /** Runs the request, first delaying it when sampled. */
  dispatch(next: Dispatch, req: ProxyRequest, body: RequestBody | null, handler: ResponseHandler): Cancel {
    if (this.delayPercent > 0 && sampled(this.delayPercent)) {
      this.delays.value++;
      return new DelayedRequest(this, next, req, body, handler).cancel;
    }
    return this.abortOrForward(next, req, body, handler);
  }

  abortOrForward(
    next: Dispatch,
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
  ): Cancel {
    if (this.abortPercent <= 0 || !sampled(this.abortPercent)) return next(req, body, handler);
    this.aborts.value++;
    if (this.grpcStatus >= 0 && req.grpc)
      replyGrpc(handler, this.grpcStatus, ABORT_MESSAGE, this.httpError.code);
    else replyError(req, handler, this.httpError);
    return noop;
  }
}

/** A request held for its injected delay; cancelling it (client gone) clears the timer. */
class DelayedRequest {
  private readonly fault: Fault;
  private readonly next: Dispatch;
  private readonly req: ProxyRequest;
  private readonly body: RequestBody | null;
  private readonly handler: ResponseHandler;
  private timer: NodeJS.Timeout | undefined;
  private inner: Cancel | null = null;
  private cancelled = false;

  constructor(
    fault: Fault,
    next: Dispatch,
    req: ProxyRequest,
    body: RequestBody | null,
    handler: ResponseHandler,
  ) {
    this.fault = fault;
    this.next = next;
    this.req = req;
    this.body = body;
    this.handler = handler;
    this.timer = setTimeout(fire, fault.delayMs, this);
  }

  run(): void {
    this.timer = undefined;
    if (this.cancelled) return;
    this.inner = this.fault.abortOrForward(this.next, this.req, this.body, this.handler);
  }

  readonly cancel: Cancel = (reason) => {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    const inner = this.inner;
    this.inner = null;
    inner?.(reason);
  };
}

function fire(d: DelayedRequest): void {
  d.run();
}

export const faultLayer: RequestLayerFactory = (route, env) => {
  const policy = route.config.fault;
  if (policy === undefined || (policy.delay === undefined && policy.abort === undefined)) return undefined;
  const family = env.stats.policy.faults;
  const fault = new Fault(
    policy,
    family.series({ route: route.name, kind: 'delay' }),
    family.series({ route: route.name, kind: 'abort' }),
  );
  const layer: Layer =
    (next: Dispatch): Dispatch =>
    (req, body, handler) =>
      fault.dispatch(next, req, body, handler);
  return layer;
};
