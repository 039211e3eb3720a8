// One request followed through three services by real proxies on loopback:
//   client → proxy A outbound → proxy B inbound → app B → proxy B outbound → proxy C inbound → app C
// with the spans exported to a collector (OTLP/HTTP JSON, then Zipkin v2 JSON). App B passes the
// trace headers on, as every app in a mesh must. A samples 100 %, B and C 0 %: every decision
// past A is the incoming one.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { listen, portOf } from '../../test/support/sockets.ts';
import type { ProxyConfigInput } from '../model/schema.ts';
import { startProxy } from '../tls/testing.ts';
import { parseTraceparent } from './propagation.ts';
import { chainOf, startCollector, type Collector } from './testing.ts';
import { shutdownTracing } from './tracer.ts';

const TRACE_HEADERS = [
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
];
const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

type Tracing = NonNullable<NonNullable<ProxyConfigInput['telemetry']>['tracing']>;
type Export = 'otlp' | 'zipkin';

function tracing(c: Collector, format: Export, samplingPercent: number, serviceName?: string): Tracing {
  return {
    enabled: true,
    samplingPercent,
    flushInterval: 50,
    ...(format === 'otlp' ? { otlpEndpoint: c.otlpUrl } : { zipkinEndpoint: c.zipkinUrl }),
    ...(serviceName === undefined ? {} : { serviceName }),
  };
}

function route(name: string, cluster: string) {
  return { name, virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ backends: [{ cluster }] }] }] };
}

function cluster(name: string, port: number) {
  return { name, protocol: 'http1' as const, endpoints: [{ address: '127.0.0.1', port }] };
}

function traceHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const v = h[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

async function server(t: TestContext, handler: http.RequestListener): Promise<number> {
  const s = http.createServer(handler);
  await listen(s);
  t.after(() => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve()))));
  return portOf(s);
}

interface Mesh {
  collector: Collector;
  /** Sends a request through the chain from the client; returns the trace headers app C saw. */
  call(headers?: Record<string, string>): Promise<Record<string, string>>;
}

async function startMesh(t: TestContext, format: Export): Promise<Mesh> {
  const collector = await startCollector();
  // Every export pipeline of the process is flushed and stopped before the collector goes.
  t.after(async () => {
    await shutdownTracing();
    await collector.close();
  });
  const appC = await server(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(traceHeaders(req.headers)));
  });
  let bOutbound = 0;
  const appB = await server(t, (req, res) => {
    fetch(`http://127.0.0.1:${bOutbound}/c`, { headers: traceHeaders(req.headers) })
      .then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()))
      .catch((err: unknown) => res.writeHead(502).end(String(err)));
  });
  const c = await startProxy(t, {
    node: { id: 'svc-c' }, // service.name falls back to the node id
    admin: { port: 0 },
    listeners: [{ name: 'inbound', direction: 'inbound', port: 0, protocol: 'http', routeTable: 'in' }],
    routeTables: [route('in', 'app')],
    clusters: [cluster('app', appC)],
    telemetry: { tracing: tracing(collector, format, 0) },
  });
  const b = await startProxy(t, {
    node: { id: 'b-1', service: 'ignored' },
    admin: { port: 0 },
    listeners: [
      { name: 'inbound', direction: 'inbound', port: 0, protocol: 'http', routeTable: 'in' },
      { name: 'outbound', direction: 'outbound', port: 0, protocol: 'http', routeTable: 'out' },
    ],
    routeTables: [route('in', 'app'), route('out', 'c')],
    clusters: [cluster('app', appB), cluster('c', c.ports().inbound!)],
    telemetry: { tracing: tracing(collector, format, 0, 'svc-b') }, // serviceName wins over node.service
  });
  bOutbound = b.ports().outbound!;
  const a = await startProxy(t, {
    node: { id: 'a-1', service: 'svc-a' },
    admin: { port: 0 },
    listeners: [{ name: 'outbound', direction: 'outbound', port: 0, protocol: 'http', routeTable: 'out' }],
    routeTables: [route('out', 'b')],
    clusters: [cluster('b', b.ports().inbound!)],
    telemetry: { tracing: tracing(collector, format, 100) },
  });
  const aPort = a.ports().outbound!;
  return {
    collector,
    async call(headers = {}) {
      const res = await fetch(`http://127.0.0.1:${aPort}/reviews/1?x=1`, { headers });
      assert.equal(res.status, 200, await res.clone().text());
      return (await res.json()) as Record<string, string>;
    },
  };
}

/** The four spans of one request, checked to form A client → B server → B client → C server. */
async function assertChain(mesh: Mesh, traceId: string): Promise<ReturnType<typeof chainOf>> {
  await mesh.collector.waitFor((spans) => spans.filter((s) => s.traceId === traceId).length >= 4);
  const all = mesh.collector.spans.filter((s) => s.traceId === traceId);
  assert.equal(all.length, 4, 'one span per side of each hop, no more');
  const chain = chainOf(all, traceId);
  assert.deepEqual(
    chain.map((s) => `${s.service}:${s.kind}`),
    ['svc-a:client', 'svc-b:server', 'svc-b:client', 'svc-c:server'],
  );
  for (const s of chain) {
    assert.equal(s.name, 'GET');
    assert.equal(s.error, false);
  }
  return chain;
}

for (const format of ['otlp', 'zipkin'] as const) {
  test(`${format}: a request without context starts one trace across three services`, async (t) => {
    const mesh = await startMesh(t, format);
    const seenByC = await mesh.call();
    const tp = parseTraceparent(seenByC.traceparent!);
    assert.ok(tp?.sampled, 'A sampled it, B and C kept the decision');
    const chain = await assertChain(mesh, tp.traceId);
    assert.equal(chain[0]!.parentSpanId, undefined, 'A started the trace');
    assert.equal(tp.spanId, chain[3]!.spanId, 'app C is the child of the C server span');
    const [aClient, bServer] = chain;
    // Stable HTTP conventions (Zipkin carries every attribute as a string tag).
    assert.equal(aClient!.attributes['http.request.method'], 'GET');
    assert.equal(aClient!.attributes['url.path'], '/reviews/1');
    assert.equal(String(aClient!.attributes['http.response.status_code']), '200');
    assert.equal(bServer!.attributes['url.scheme'], 'http');
    assert.match(String(bServer!.attributes['server.port']), /^\d+$/);
    assert.equal(bServer!.attributes['trellis.listener'], 'inbound');
    const path = format === 'otlp' ? '/v1/traces' : '/api/v2/spans';
    assert.ok(mesh.collector.requests.every((r) => r.path === path && r.contentType === 'application/json'));
  });
}

test('an incoming traceparent is continued, not replaced; its tracestate reaches the last app', async (t) => {
  const mesh = await startMesh(t, 'otlp');
  const seenByC = await mesh.call({
    traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`,
    tracestate: 'congo=t61rcWkgMzE',
  });
  assert.equal(parseTraceparent(seenByC.traceparent!)?.traceId, CLIENT_TRACE);
  assert.equal(seenByC.tracestate, 'congo=t61rcWkgMzE');
  const chain = await assertChain(mesh, CLIENT_TRACE);
  assert.equal(chain[0]!.parentSpanId, CLIENT_SPAN, "A's span is the child of the client's");
  for (const s of chain) assert.equal(s.traceState, 'congo=t61rcWkgMzE');
});

test('an incoming sampled=0 is honoured: no spans anywhere, yet the trace id reaches C', async (t) => {
  const mesh = await startMesh(t, 'otlp');
  const seenByC = await mesh.call({ traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-00` });
  assert.deepEqual(parseTraceparent(seenByC.traceparent!), {
    traceId: CLIENT_TRACE,
    spanId: CLIENT_SPAN,
    sampled: false,
  });
  // A sampled request after it: once its spans are in, the unsampled one's would be too (same queues).
  const later = parseTraceparent((await mesh.call()).traceparent!)!;
  await assertChain(mesh, later.traceId);
  assert.equal(mesh.collector.spans.filter((s) => s.traceId === CLIENT_TRACE).length, 0);
});

test('B3 from the caller (single header, multi header with a 64-bit id) continues the trace, in B3 too', async (t) => {
  const mesh = await startMesh(t, 'otlp');
  const single = await mesh.call({ b3: `${CLIENT_TRACE}-${CLIENT_SPAN}-1` });
  assert.match(single.b3!, new RegExp(`^${CLIENT_TRACE}-[0-9a-f]{16}-1-[0-9a-f]{16}$`));
  assert.equal(parseTraceparent(single.traceparent!)?.traceId, CLIENT_TRACE);
  assert.equal((await assertChain(mesh, CLIENT_TRACE))[0]!.parentSpanId, CLIENT_SPAN);

  const multi = await mesh.call({
    'x-b3-traceid': '8448eb211c80319c',
    'x-b3-spanid': CLIENT_SPAN,
    'x-b3-sampled': '1',
  });
  const widened = '00000000000000008448eb211c80319c';
  assert.equal(multi['x-b3-traceid'], widened);
  assert.equal(multi['x-b3-sampled'], '1');
  assert.equal(multi['x-b3-spanid'], parseTraceparent(multi.traceparent!)?.spanId);
  await assertChain(mesh, widened);
});
