// Edge metrics on a real mesh pair (web → reviews over mTLS, real apps): the exact series each
// side reports for a 200, a 503, a gRPC error and a denied request, the peer metadata header
// (stripped before the app, never taken from the app), and metrics switched off.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test } from 'node:test';
import { startAdminServer } from '../admin/admin-server.ts';
import { parsePeerHeader } from './peer-metadata.ts';
import { edgeLabels, startApps, startPair, valueOf, type Pair } from './edge-testing.ts';

async function call(
  port: number,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: init.method ?? 'GET',
    headers: { host: 'reviews', ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  return { status: res.status, text: await res.text() };
}

/** One gRPC call over h2c to the outbound listener: its 8-byte request, the grpc-status it got. */
async function grpcCall(port: number): Promise<string | undefined> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const stream = session.request({
      ':method': 'POST',
      ':path': '/reviews.Reviews/Get',
      ':authority': 'grpc',
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.end(Buffer.from([0, 0, 0, 0, 3, 9, 9, 9]));
    stream.resume();
    const status = await new Promise<string | undefined>((resolve, reject) => {
      let got: string | undefined;
      stream.on('response', (h) => (got = h['grpc-status'] as string | undefined));
      stream.on('trailers', (h) => (got = h['grpc-status'] as string | undefined));
      stream.on('close', () => resolve(got));
      stream.on('error', reject);
    });
    return status;
  } finally {
    session.close();
  }
}

async function scrape(pair: Pair): Promise<{ client: string; server: string }> {
  return { client: await pair.clientRegistry.metrics(), server: await pair.serverRegistry.metrics() };
}

test('each side reports the edge: 200, 503, gRPC status, request and response sizes', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps);
  // The app's own x-trellis-peer never reaches the peer: the sidecar states who calls.
  const ok = await call(pair.outbound, '/reviews/1', {
    method: 'POST',
    body: 'abcde',
    headers: { 'x-trellis-peer': 'workload=evil;namespace=evil;version=evil' },
  });
  assert.deepEqual(ok, { status: 200, text: 'hello' });
  assert.equal((await call(pair.outbound, '/status/503')).status, 503);
  assert.equal(await grpcCall(pair.outbound), '5');
  assert.deepEqual(apps.peerHeaders, [null, null], 'the app never sees the peer metadata header');

  // Scraped through the admin endpoint, as Prometheus does.
  const admin = await startAdminServer('127.0.0.1', 0, {
    ready: () => true,
    configDump: () => ({}),
    metrics: () => pair.clientRegistry.metrics(),
    metricsContentType: pair.clientRegistry.contentType,
  });
  t.after(() => admin.close());
  const client = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
  const server = await pair.serverRegistry.metrics();

  for (const [reporter, text, route, grpcRoute] of [
    ['source', client, 'reviews', 'reviews-grpc'],
    ['destination', server, 'inbound', 'inbound-grpc'],
  ] as const) {
    const ok200 = edgeLabels(reporter, { route, response_code: '200' });
    const err503 = edgeLabels(reporter, { route, response_code: '503' });
    const grpc = edgeLabels(reporter, { route: grpcRoute, response_code: '200', grpc_status: '5' });
    assert.equal(valueOf(text, 'trellis_edge_requests_total', ok200), 1, `${reporter}: 200\n${text}`);
    assert.equal(valueOf(text, 'trellis_edge_requests_total', err503), 1, `${reporter}: 503`);
    assert.equal(valueOf(text, 'trellis_edge_requests_total', grpc), 1, `${reporter}: gRPC`);
    assert.equal(valueOf(text, 'trellis_edge_request_duration_ms_count', ok200), 1);
    assert.equal(valueOf(text, 'trellis_edge_request_duration_ms_bucket', { ...ok200, le: '+Inf' }), 1);
    // Body sizes: 5 bytes up and "hello" down; 11 bytes of "unavailable"; one 8-byte gRPC message each way.
    assert.equal(valueOf(text, 'trellis_edge_request_bytes_sum', ok200), 5);
    assert.equal(valueOf(text, 'trellis_edge_request_bytes_bucket', { ...ok200, le: 0 }), 0);
    assert.equal(valueOf(text, 'trellis_edge_request_bytes_bucket', { ...ok200, le: 64 }), 1);
    assert.equal(valueOf(text, 'trellis_edge_response_bytes_sum', ok200), 5);
    assert.equal(valueOf(text, 'trellis_edge_request_bytes_sum', err503), 0);
    assert.equal(valueOf(text, 'trellis_edge_request_bytes_bucket', { ...err503, le: 0 }), 1);
    assert.equal(valueOf(text, 'trellis_edge_response_bytes_sum', err503), 11);
    assert.equal(valueOf(text, 'trellis_edge_request_bytes_sum', grpc), 8);
    assert.equal(valueOf(text, 'trellis_edge_response_bytes_sum', grpc), 8);
    assert.equal(valueOf(text, 'trellis_metrics_series_overflow_total', {}), 0);
  }
  // The route families are still there, beside the edge ones.
  assert.equal(
    valueOf(client, 'trellis_requests_total', {
      direction: 'outbound',
      listener: 'outbound',
      route: 'reviews',
      cluster: 'reviews',
    }),
    2,
  );
});

test('a denied request: its own counter, and a 403 series on both sides', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps, {
    inboundSecurity: {
      authorization: [
        { name: 'default/no-admin', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] },
      ],
    },
  });
  assert.equal((await call(pair.outbound, '/admin')).status, 403);
  assert.equal((await call(pair.outbound, '/fine')).status, 200);
  const { client, server } = await scrape(pair);
  assert.equal(
    valueOf(server, 'trellis_denied_requests_total', { reporter: 'destination', reason: 'rbac' }),
    1,
  );
  // Refused before routing: the route is unknown on the destination side; the caller is known.
  const denied = edgeLabels('destination', { route: 'unknown', response_code: '403' });
  assert.equal(valueOf(server, 'trellis_edge_requests_total', denied), 1, server);
  assert.equal(
    valueOf(
      server,
      'trellis_edge_requests_total',
      edgeLabels('destination', { route: 'inbound', response_code: '200' }),
    ),
    1,
  );
  assert.equal(
    valueOf(
      client,
      'trellis_edge_requests_total',
      edgeLabels('source', { route: 'reviews', response_code: '403' }),
    ),
    1,
  );
  assert.deepEqual(apps.peerHeaders, [null]);
});

test('telemetry.metrics.enabled: false — no edge series, no peer header; route families stay', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps, { metrics: false });
  assert.equal((await call(pair.outbound, '/x')).status, 200);
  const { client, server } = await scrape(pair);
  for (const text of [client, server]) {
    assert.doesNotMatch(text, /^trellis_edge_\w+\{/m);
    assert.doesNotMatch(text, /^trellis_tcp_\w+\{/m);
  }
  assert.equal(
    valueOf(server, 'trellis_requests_total', {
      direction: 'inbound',
      listener: 'inbound',
      route: 'inbound',
      cluster: 'app',
    }),
    1,
  );
  assert.deepEqual(apps.peerHeaders, [null]);
});

test('the series cap holds on a live proxy: the rest is counted under unknown', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps, { maxEdgeSeries: 1 });
  assert.equal((await call(pair.outbound, '/a')).status, 200);
  assert.equal((await call(pair.outbound, '/status/503')).status, 503);
  assert.equal((await call(pair.outbound, '/status/503')).status, 503);
  const server = await pair.serverRegistry.metrics();
  const ok = edgeLabels('destination', { route: 'inbound', response_code: '200' });
  assert.equal(valueOf(server, 'trellis_edge_requests_total', ok), 1);
  assert.equal(
    valueOf(
      server,
      'trellis_edge_requests_total',
      edgeLabels('destination', { route: 'inbound', response_code: '503' }),
    ),
    undefined,
  );
  assert.equal(server.split('\n').filter((l) => l.startsWith('trellis_edge_requests_total{')).length, 2);
  assert.equal(valueOf(server, 'trellis_metrics_series_overflow_total', {}), 2);
});

test('peer metadata: known keys and well-formed values only', () => {
  assert.deepEqual(parsePeerHeader('workload=web-v1;namespace=default;version=v1'), {
    workload: 'web-v1',
    namespace: 'default',
    version: 'v1',
  });
  assert.deepEqual(parsePeerHeader('workload=a b;x=y;namespace=ns;version'), { namespace: 'ns' });
  assert.deepEqual(parsePeerHeader(`workload=${'a'.repeat(600)}`), {});
});
