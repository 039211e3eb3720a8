// The tracing layer on its own, over a dispatch that answers as told: which requests get a span,
// what goes upstream, how the span's status, error code and attributes follow the exchange.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyError, UpstreamTimeoutError } from '../errors.ts';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { testRequest } from '../proxy/testing.ts';
import type { FinishedSpan, SpanSink } from './finished-span.ts';
import { tracingLayer } from './layer.ts';
import { parseTraceparent } from './propagation.ts';
import { Tracer } from './tracer.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const CONTROLLER: ResponseController = { resume() {}, abort() {} };

class MemorySink implements SpanSink {
  readonly spans: FinishedSpan[] = [];
  record(span: FinishedSpan): void {
    this.spans.push(span);
  }
  async flush(): Promise<void> {}
  async release(): Promise<void> {}
}

class NullHandler implements ResponseHandler {
  onResponseStart(): void {}
  onResponseData(): boolean {
    return true;
  }
  onResponseEnd(): void {}
  onResponseError(): void {}
}

function request(headers: HeaderList = [], extra: Partial<ProxyRequest> = {}): ProxyRequest {
  return testRequest({
    authority: 'reviews.default:9080',
    path: '/books/1?sig=secret&page=2',
    headers: ['user-agent', 'curl/8', ...headers],
    source: { address: '127.0.0.1', port: 40000, identity: 'spiffe://cluster.local/ns/default/sa/web' },
    listener: 'l',
    ...extra,
  });
}

interface Harness {
  sink: MemorySink;
  tracer: Tracer;
  /** The requests that reached the bottom of the stack. */
  upstream: ProxyRequest[];
  run(req: ProxyRequest, answer?: (h: ResponseHandler) => void): Cancel;
  cancelled: (Error | undefined)[];
}

function harness(direction: 'inbound' | 'outbound', samplingPercent: number): Harness {
  const sink = new MemorySink();
  const tracer = new Tracer(samplingPercent, sink);
  const upstream: ProxyRequest[] = [];
  const cancelled: (Error | undefined)[] = [];
  const layer = tracingLayer({ tracer, direction, listener: direction })!;
  let answer: (h: ResponseHandler) => void = () => {};
  const bottom: Dispatch = (req, _body, handler) => {
    upstream.push(req);
    answer(handler);
    return (reason) => void cancelled.push(reason);
  };
  const dispatch = layer(bottom);
  return {
    sink,
    tracer,
    upstream,
    cancelled,
    run(req, a = ok(200)) {
      answer = a;
      return dispatch(req, null, new NullHandler());
    },
  };
}

function ok(status: number, headers: HeaderList = [], trailers: HeaderList | null = null) {
  return (h: ResponseHandler): void => {
    h.onResponseStart(status, headers, CONTROLLER);
    h.onResponseEnd(trailers);
  };
}

function traceparentOf(req: ProxyRequest): string {
  const i = req.headers.indexOf('traceparent');
  assert.ok(i >= 0 && i % 2 === 0, 'a traceparent goes upstream');
  return req.headers[i + 1]!;
}

test('tracing off: no layer at all', () => {
  assert.equal(tracingLayer({ tracer: undefined, direction: 'inbound', listener: 'in' }), undefined);
});

test('0 %: no span; a new trace id still goes upstream, marked not sampled', () => {
  const h = harness('outbound', 0);
  for (let i = 0; i < 50; i++) h.run(request());
  assert.equal(h.sink.spans.length, 0);
  const tp = parseTraceparent(traceparentOf(h.upstream[0]!));
  assert.equal(tp?.sampled, false);
  assert.notEqual(tp?.traceId, parseTraceparent(traceparentOf(h.upstream[1]!))?.traceId);
});

test('0 %, no trace header: the request goes on as itself, its own list gains one traceparent', () => {
  const h = harness('outbound', 0);
  const req = request(['accept', '*/*']);
  const headers = req.headers;
  h.run(req);
  assert.equal(h.upstream[0], req, 'no request copy');
  assert.equal(h.upstream[0]!.headers, headers, 'no header list copy');
  assert.deepEqual(headers.slice(0, 4), ['user-agent', 'curl/8', 'accept', '*/*']);
  assert.equal(headers.length, 6);
  const tp = parseTraceparent(traceparentOf(req));
  assert.equal(tp?.sampled, false);
  // The span id of an unrecorded root is the trace id's low half (valid, and nothing to draw).
  assert.equal(tp?.spanId, tp?.traceId.slice(16));
});

test('0 %, trace headers to rewrite: the request upstream is a copy, the one that came is untouched', () => {
  const h = harness('outbound', 0);
  const req = request(['b3', `${TRACE}-${SPAN}`, 'tracestate', 'x=1']);
  const before = [...req.headers];
  h.run(req);
  assert.notEqual(h.upstream[0], req);
  assert.deepEqual(req.headers, before);
  assert.equal(parseTraceparent(traceparentOf(h.upstream[0]!))?.traceId, TRACE);
});

test('100 %: a root span per request, whose id is the parent sent upstream', () => {
  const h = harness('outbound', 100);
  for (let i = 0; i < 20; i++) h.run(request());
  assert.equal(h.sink.spans.length, 20);
  const span = h.sink.spans[0]!;
  const tp = parseTraceparent(traceparentOf(h.upstream[0]!))!;
  assert.equal(span.kind, 'client');
  assert.equal(span.parentSpanId, undefined);
  assert.equal(span.traceId, tp.traceId);
  assert.equal(span.spanId, tp.spanId);
  assert.equal(tp.sampled, true);
  assert.equal(h.tracer.openSpans, 0);
});

test('a sampling rate between is honoured (50 % of 4000, within ±10 σ)', () => {
  const h = harness('outbound', 50);
  for (let i = 0; i < 4000; i++) h.run(request());
  assert.ok(Math.abs(h.sink.spans.length - 2000) < 320, `${h.sink.spans.length} sampled`);
});

test('an incoming sampled decision is kept, whatever the local rate', () => {
  const h = harness('inbound', 0);
  const incoming = `00-${TRACE}-${SPAN}-01`;
  h.run(request(['traceparent', incoming, 'tracestate', 'congo=t61rcWkgMzE']));
  const [span] = h.sink.spans;
  assert.equal(span?.kind, 'server');
  assert.equal(span?.traceId, TRACE);
  assert.equal(span?.parentSpanId, SPAN);
  assert.equal(span?.traceState, 'congo=t61rcWkgMzE');
  const sent = h.upstream[0]!;
  assert.equal(traceparentOf(sent), `00-${TRACE}-${span!.spanId}-01`);
  assert.deepEqual(
    sent.headers.slice(sent.headers.indexOf('tracestate'), sent.headers.indexOf('tracestate') + 2),
    ['tracestate', 'congo=t61rcWkgMzE'],
  );
});

test('an incoming "not sampled" is kept at 100 %: no span, the request goes on as it came', () => {
  const h = harness('inbound', 100);
  const req = request(['traceparent', `00-${TRACE}-${SPAN}-00`]);
  h.run(req);
  assert.equal(h.sink.spans.length, 0);
  assert.equal(h.upstream[0], req);
});

test('attributes follow the HTTP semantic conventions; signed query values are redacted', () => {
  const h = harness('outbound', 100);
  h.run(request(), ok(200));
  const a = h.sink.spans[0]!.attributes;
  assert.equal(h.sink.spans[0]!.name, 'GET');
  assert.equal(a['http.request.method'], 'GET');
  assert.equal(a['url.scheme'], 'http');
  assert.equal(a['url.path'], '/books/1');
  assert.equal(a['url.query'], 'sig=REDACTED&page=2');
  assert.equal(a['url.full'], 'http://reviews.default:9080/books/1?sig=REDACTED&page=2');
  assert.equal(a['server.address'], 'reviews.default');
  assert.equal(a['server.port'], 9080);
  assert.equal(a['network.protocol.version'], '1.1');
  assert.equal(a['user_agent.original'], 'curl/8');
  assert.equal(a['http.response.status_code'], 200);
  assert.equal(a['trellis.source.identity'], 'spiffe://cluster.local/ns/default/sa/web');
  assert.equal(a['error.type'], undefined);
  assert.equal(h.sink.spans[0]!.error, false);

  h.run(request([], { method: 'PURGE', authority: '[::1]', protocol: 'http2' }));
  const b = h.sink.spans[1]!;
  assert.equal(b.name, 'HTTP');
  assert.equal(b.attributes['http.request.method'], '_OTHER');
  assert.equal(b.attributes['http.request.method_original'], 'PURGE');
  assert.equal(b.attributes['server.address'], '::1');
  assert.equal(b.attributes['server.port'], 80);
  assert.equal(b.attributes['network.protocol.version'], '2');
});

test('status: 5xx is an error on both sides, 4xx only on the client side', () => {
  const server = harness('inbound', 100);
  server.run(request(), ok(404));
  server.run(request(), ok(503));
  assert.deepEqual(
    server.sink.spans.map((s) => [s.error, s.attributes['error.type']]),
    [
      [false, undefined],
      [true, '503'],
    ],
  );
  const client = harness('outbound', 100);
  client.run(request(), ok(404));
  assert.equal(client.sink.spans[0]!.error, true);
  assert.equal(client.sink.spans[0]!.attributes['error.type'], '404');
});

test("proxy errors and the proxy's own error answers carry their code", () => {
  const h = harness('inbound', 100);
  h.run(request(), (handler) => handler.onResponseError(UpstreamTimeoutError(100)));
  h.run(request(), ok(429, ['x-trellis-error', 'TRELLIS_RATE_LIMITED']));
  h.run(request(), (handler) =>
    handler.onResponseError(new ProxyError('TRELLIS_RBAC_DENIED', 403, 'RBAC: access denied')),
  );
  const [timeout, limited, denied] = h.sink.spans;
  assert.equal(timeout!.error, true);
  assert.equal(timeout!.attributes['error.type'], 'TRELLIS_UPSTREAM_TIMEOUT');
  assert.equal(timeout!.attributes['http.response.status_code'], 504);
  assert.match(timeout!.errorMessage!, /did not answer within 100ms/);
  assert.equal(limited!.attributes['error.type'], 'TRELLIS_RATE_LIMITED');
  assert.equal(denied!.attributes['error.type'], 'TRELLIS_RBAC_DENIED');
  assert.equal(denied!.error, true);
});

test('gRPC: the status from the trailers; server spans count only server-side failures', () => {
  const grpc = { grpc: true, path: '/helloworld.Greeter/SayHello' };
  const h = harness('inbound', 100);
  h.run(request([], grpc), ok(200, ['content-type', 'application/grpc'], ['grpc-status', '14']));
  h.run(request([], grpc), ok(200, ['content-type', 'application/grpc', 'grpc-status', '5']));
  const [unavailable, notFound] = h.sink.spans;
  assert.equal(unavailable!.attributes['rpc.system.name'], 'grpc');
  assert.equal(unavailable!.attributes['rpc.method'], 'helloworld.Greeter/SayHello');
  assert.equal(unavailable!.attributes['rpc.status_code'], 'UNAVAILABLE');
  assert.equal(unavailable!.error, true);
  assert.equal(notFound!.attributes['rpc.status_code'], 'NOT_FOUND');
  assert.equal(notFound!.error, false);
});

test('a cancelled exchange ends its span (once) and cancels the one below', () => {
  const h = harness('outbound', 100);
  const cancel = h.run(request(), () => {}); // no answer: in flight
  assert.equal(h.tracer.openSpans, 1);
  assert.equal(h.sink.spans.length, 0);
  const reason = new Error('client closed the connection');
  cancel(reason);
  cancel(reason);
  assert.equal(h.sink.spans.length, 1);
  assert.equal(h.sink.spans[0]!.attributes['error.type'], 'TRELLIS_DOWNSTREAM_RESET');
  assert.equal(h.tracer.openSpans, 0);
  assert.deepEqual(h.cancelled, [reason, reason]);
});

test('a dispatch that throws still ends the span', () => {
  const sink = new MemorySink();
  const tracer = new Tracer(100, sink);
  const dispatch = tracingLayer({ tracer, direction: 'inbound', listener: 'in' })!(() => {
    throw new Error('boom');
  });
  assert.throws(() => dispatch(request(), null, new NullHandler()), /boom/);
  assert.equal(sink.spans[0]!.attributes['error.type'], 'TRELLIS_INTERNAL');
  assert.equal(tracer.openSpans, 0);
});
