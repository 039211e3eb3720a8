// The tracing layer of a listener, first in its stack: inbound listeners record the server side
// of a hop (SpanKind SERVER, parent: the caller's span), outbound ones the client side (CLIENT,
// parent: the app's span when the app passed the context on, else the root of a new trace).
//
// Unsampled requests, the common case at a 1 % rate, cost a scan of the header names; one that
// came without any trace header gets its traceparent appended to its own header list (this layer
// is the first to see the request, whose list was made for it), and only one whose trace headers
// must be rewritten costs a new header list and a request copy: no span, no SDK object.
// A valid traceparent that came alone goes on untouched. Sampled requests get a span id of their
// own, sent upstream as the parent of the next hop, and a span recorded when the exchange ends:
// at the response's end, at an error (status ERROR with the proxy's error code), or when the
// downstream cancels.
import { TrellisError, type ProxyError } from '../errors.ts';
import type { StackEnv } from '../proxy/forward.ts';
import type {
  Cancel,
  HeaderList,
  Layer,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { newSpanId, newTraceId } from './ids.ts';
import {
  appendUnsampledTraceparent,
  extractContext,
  injectContext,
  unsampledHeaders,
} from './propagation.ts';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_RPC_STATUS_CODE,
  GRPC_STATUS_NAMES,
  requestAttributes,
  spanName,
  type SpanKindName,
} from './span-attributes.ts';
import type { Tracer } from './tracer.ts';

const noop: Cancel = () => {};

/** gRPC codes a server span reports as errors (the rest are the caller's mistakes). */
const SERVER_GRPC_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

function headerValue(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

function grpcStatusOf(headers: HeaderList): number {
  const v = headerValue(headers, 'grpc-status');
  const code = v === undefined ? -1 : Number(v);
  return Number.isInteger(code) && code >= 0 ? code : -1;
}

/** One sampled exchange: passes every callback on and records the span once, at the end. */
class TracedExchange implements ResponseHandler {
  private readonly next: ResponseHandler;
  private readonly tracer: Tracer;
  private readonly kind: SpanKindName;
  private readonly listener: string;
  private readonly req: ProxyRequest;
  private readonly traceId: string;
  private readonly spanId: string;
  private readonly parentSpanId: string | undefined;
  private readonly traceState: string | undefined;
  private status = 0;
  private grpcStatus = -1;
  /** x-trellis-error of an answer the proxy gave itself (429, injected faults, …). */
  private localError: string | undefined;
  private done = false;
  cancel: Cancel = noop;

  constructor(
    next: ResponseHandler,
    tracer: Tracer,
    kind: SpanKindName,
    listener: string,
    req: ProxyRequest,
    ids: {
      traceId: string;
      spanId: string;
      parentSpanId: string | undefined;
      traceState: string | undefined;
    },
  ) {
    this.next = next;
    this.tracer = tracer;
    this.kind = kind;
    this.listener = listener;
    this.req = req;
    this.traceId = ids.traceId;
    this.spanId = ids.spanId;
    this.parentSpanId = ids.parentSpanId;
    this.traceState = ids.traceState;
    tracer.spanStarted();
  }

  onInformational(status: number, headers: HeaderList): void {
    this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.status = status;
    this.localError = headerValue(headers, 'x-trellis-error');
    if (this.req.grpc) this.grpcStatus = grpcStatusOf(headers); // trailers-only answers
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    return this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    if (this.req.grpc && trailers !== null) this.grpcStatus = grpcStatusOf(trailers);
    this.next.onResponseEnd(trailers);
    this.finish(undefined, undefined);
  }

  onResponseError(err: ProxyError): void {
    // Before a head was sent, the client gets the error's status.
    if (this.status === 0) this.status = err.status;
    this.next.onResponseError(err);
    this.finish(err.code, err.message);
  }

  /** The downstream went away (or a layer above gave up): the span ends here too. */
  readonly abort: Cancel = (reason) => {
    this.finish(
      reason instanceof TrellisError ? reason.code : 'TRELLIS_DOWNSTREAM_RESET',
      reason?.message ?? 'cancelled',
    );
    this.cancel(reason);
  };

  /** dispatch() threw below: the exception goes on, the span ends with it. */
  threw(err: unknown): void {
    this.finish('TRELLIS_INTERNAL', err instanceof Error ? err.message : String(err));
  }

  private finish(errorCode: string | undefined, errorMessage: string | undefined): void {
    if (this.done) return;
    this.done = true;
    const attributes = requestAttributes(this.req, this.kind, this.listener);
    if (this.status > 0) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = this.status;
    // Proxy errors and the proxy's own error answers are errors on either side; otherwise the
    // conventions: 5xx for a server span, 4xx and 5xx for a client span.
    let errorType = errorCode ?? this.localError;
    if (errorType === undefined && (this.status >= 500 || (this.kind === 'client' && this.status >= 400)))
      errorType = String(this.status);
    if (this.grpcStatus >= 0) {
      const name = GRPC_STATUS_NAMES[this.grpcStatus] ?? String(this.grpcStatus);
      attributes[ATTR_RPC_STATUS_CODE] = name;
      const failed =
        this.grpcStatus !== 0 && (this.kind === 'client' || SERVER_GRPC_ERRORS.has(this.grpcStatus));
      if (errorType === undefined && failed) errorType = name;
    }
    if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
    this.tracer.spanEnded({
      name: spanName(this.req.method),
      kind: this.kind,
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      traceState: this.traceState,
      startTime: this.req.startTime,
      endTime: performance.now(),
      attributes,
      error: errorType !== undefined,
      errorMessage,
    });
  }
}

/** The listener's tracing layer; undefined when the config's tracing is off. */
export function tracingLayer(env: Pick<StackEnv, 'tracer' | 'direction' | 'listener'>): Layer | undefined {
  const tracer = env.tracer;
  if (tracer === undefined) return undefined;
  const kind: SpanKindName = env.direction === 'inbound' ? 'server' : 'client';
  const listener = env.listener;
  return (next) => (req, body, handler) => {
    const incoming = extractContext(req.headers);
    if (!(incoming.sampled ?? tracer.sample())) {
      if (incoming.present === 0) {
        appendUnsampledTraceparent(req.headers);
        return next(req, body, handler);
      }
      const headers = unsampledHeaders(req.headers, incoming);
      return next(headers === req.headers ? req : { ...req, headers }, body, handler);
    }
    const traceId = incoming.traceId ?? newTraceId();
    const spanId = newSpanId();
    const parentSpanId = incoming.spanId;
    const traceState = incoming.traceState;
    const headers = injectContext(req.headers, incoming.present, {
      traceId,
      spanId,
      parentSpanId,
      sampled: true,
      debug: incoming.debug,
      traceState,
    });
    const exchange = new TracedExchange(handler, tracer, kind, listener, req, {
      traceId,
      spanId,
      parentSpanId,
      traceState,
    });
    try {
      exchange.cancel = next({ ...req, headers }, body, exchange);
    } catch (err) {
      exchange.threw(err);
      throw err;
    }
    return exchange.abort;
  };
}
