// EdgeStats on its own: the exposition of a recorded request, interning, the series cap and its
// overflow, TCP series, reset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { EdgeStats, GRPC_NONE, GRPC_UNKNOWN } from './edge-stats.ts';

const SELF = {
  source_workload: 'web-v1',
  source_namespace: 'default',
  source_version: 'v1',
  source_principal: 'spiffe://cluster.local/ns/default/sa/web',
};
const PEER = {
  destination_service: 'reviews.default',
  destination_namespace: 'default',
  destination_workload: 'reviews-v2',
  destination_version: 'v2',
  destination_principal: 'unknown',
  mtls: 'true',
};
const LABELS =
  'reporter="source",source_workload="web-v1",source_namespace="default",source_version="v1",' +
  'source_principal="spiffe://cluster.local/ns/default/sa/web",destination_service="reviews.default",' +
  'destination_namespace="default",destination_workload="reviews-v2",destination_version="v2",' +
  'destination_principal="unknown"';

function lines(text: string, prefix: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

test('a request is exposed with every label, in a fixed order', async () => {
  const registry = new Registry();
  const edge = new EdgeStats(registry);
  const route = edge.route('source', edge.party(SELF), 'reviews');
  const peer = edge.party(PEER);
  edge.record(route, peer, 200, GRPC_NONE, 3, 0, 120);
  edge.record(route, peer, 200, GRPC_NONE, 700, 2000, 5);
  edge.record(route, peer, 200, 14, 1, 10, 0);
  edge.record(route, peer, 0, GRPC_UNKNOWN, Number.NaN, 0, 0);
  const text = await registry.metrics();
  const l200 = `${LABELS},route="reviews",response_code="200",grpc_status="",mtls="true"`;
  assert.deepEqual(lines(text, `trellis_edge_requests_total{${l200}}`), [
    `trellis_edge_requests_total{${l200}} 2`,
  ]);
  assert.match(
    text,
    new RegExp(
      `trellis_edge_requests_total\\{${LABELS},route="reviews",response_code="200",grpc_status="14",mtls="true"\\} 1`,
    ),
  );
  assert.match(
    text,
    new RegExp(
      `trellis_edge_requests_total\\{${LABELS},route="reviews",response_code="0",grpc_status="unknown",mtls="true"\\} 1`,
    ),
  );
  assert.ok(text.includes(`trellis_edge_request_duration_ms_bucket{${l200},le="2.5"} 0\n`));
  assert.ok(text.includes(`trellis_edge_request_duration_ms_bucket{${l200},le="5"} 1\n`));
  assert.ok(text.includes(`trellis_edge_request_duration_ms_bucket{${l200},le="1000"} 2\n`));
  assert.ok(text.includes(`trellis_edge_request_duration_ms_sum{${l200}} 703\n`));
  assert.ok(text.includes(`trellis_edge_request_bytes_bucket{${l200},le="0"} 1\n`));
  assert.ok(text.includes(`trellis_edge_request_bytes_bucket{${l200},le="4096"} 2\n`));
  assert.ok(text.includes(`trellis_edge_response_bytes_sum{${l200}} 125\n`));
  assert.ok(text.includes(`trellis_edge_response_bytes_count{${l200}} 2\n`));
  assert.match(text, /^trellis_metrics_series_overflow_total 0$/m);
  assert.match(text, /# TYPE trellis_edge_request_duration_ms histogram/);
});

test('same labels → same party and route objects (caches survive reloads)', () => {
  const edge = new EdgeStats(new Registry());
  const a = edge.party({ ...PEER });
  assert.equal(edge.party({ ...PEER }), a);
  assert.notEqual(edge.party({ ...PEER, destination_version: 'v3' }), a);
  const self = edge.party(SELF);
  assert.equal(edge.route('source', self, 'r'), edge.route('source', self, 'r'));
  assert.notEqual(edge.route('destination', self, 'r'), edge.route('source', self, 'r'));
});

test('past the cap, new label sets fold into one unknown series per reporter, counted', async () => {
  const registry = new Registry();
  const edge = new EdgeStats(registry, { maxSeries: 2, maxParties: 1 });
  const route = edge.route('source', edge.party(SELF), 'reviews');
  const peer = edge.party(PEER);
  edge.record(route, peer, 200, GRPC_NONE, 1, 0, 0);
  edge.record(route, peer, 404, GRPC_NONE, 1, 0, 0);
  edge.record(route, peer, 500, GRPC_NONE, 1, 0, 0); // third label set: folded
  edge.record(route, peer, 502, GRPC_NONE, 1, 0, 0); // folded
  edge.record(route, peer, 200, GRPC_NONE, 1, 0, 0); // known: counted as itself
  const tcp = edge.tcp('source', edge.party(SELF), peer); // folded too
  tcp.opened++;
  const text = await registry.metrics();
  assert.equal(lines(text, 'trellis_edge_requests_total{').length, 3);
  const unknown =
    'reporter="source",source_workload="unknown",source_namespace="unknown",source_version="unknown",' +
    'source_principal="unknown",destination_service="unknown",destination_namespace="unknown",' +
    'destination_workload="unknown",destination_version="unknown",destination_principal="unknown"';
  assert.ok(
    text.includes(
      `trellis_edge_requests_total{${unknown},route="unknown",response_code="unknown",grpc_status="unknown",mtls="unknown"} 2\n`,
    ),
  );
  assert.ok(text.includes(`trellis_tcp_connections_opened_total{${unknown},mtls="unknown"} 1\n`));
  assert.match(text, /^trellis_metrics_series_overflow_total 3$/m);
  // Parties learnt from traffic are bounded as well.
  assert.ok(edge.boundedParty({ source_workload: 'a' }) !== undefined);
  assert.equal(edge.boundedParty({ source_workload: 'b' }), undefined);
  assert.ok(edge.boundedParty({ source_workload: 'a' }) !== undefined, 'a known one is still found');
});

test('TCP series and reset', async () => {
  const registry = new Registry();
  const edge = new EdgeStats(registry);
  const self = edge.party(SELF);
  const s = edge.tcp('source', self, edge.party(PEER));
  assert.equal(edge.tcp('source', self, edge.party(PEER)), s);
  s.opened++;
  s.receivedBytes += 10;
  s.sentBytes += 20;
  s.closed++;
  let text = await registry.metrics();
  assert.ok(text.includes(`trellis_tcp_received_bytes_total{${LABELS},mtls="true"} 10\n`));
  assert.ok(text.includes(`trellis_tcp_sent_bytes_total{${LABELS},mtls="true"} 20\n`));
  assert.ok(text.includes(`trellis_tcp_connections_closed_total{${LABELS},mtls="true"} 1\n`));
  edge.record(edge.route('source', self, 'r'), edge.party(PEER), 200, GRPC_NONE, 1, 1, 1);
  registry.resetMetrics();
  text = await registry.metrics();
  assert.ok(text.includes(`trellis_tcp_sent_bytes_total{${LABELS},mtls="true"} 0\n`));
  assert.match(text, /^trellis_edge_requests_total\{.*\} 0$/m);
  assert.match(text, /^trellis_edge_response_bytes_sum\{.*\} 0$/m);
});
