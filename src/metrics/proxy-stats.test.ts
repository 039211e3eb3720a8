import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, type OpenMetricsContentType } from 'prom-client';
import {
  connectionClosed,
  connectionOpened,
  LATENCY_BUCKETS_MS,
  ProxyStats,
  type RequestLabels,
} from './proxy-stats.ts';

const labels: RequestLabels = { direction: 'outbound', listener: 'out', route: 'r1', cluster: 'c1' };
const L = 'direction="outbound",listener="out",route="r1",cluster="c1"';

function lines(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    m.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return m;
}

test('exports requests, responses by class and a cumulative latency histogram', async () => {
  const registry = new Registry();
  const stats = new ProxyStats(registry, { defaultMetrics: false });
  const s = stats.requestStats(labels);
  s.requests += 6;
  stats.recordResponse(s, 200, 0.1); // le=0.1 (bounds are inclusive)
  stats.recordResponse(s, 204, 0.3); // le=0.5
  stats.recordResponse(s, 302, 7); // le=10
  stats.recordResponse(s, 404, 30000); // le=30000
  stats.recordResponse(s, 503, 45000); // +Inf
  stats.recordResponse(s, 101, 1);
  const text = await registry.metrics();
  const v = lines(text);
  assert.equal(v.get(`trellis_requests_total{${L}}`), 6);
  assert.equal(v.get(`trellis_responses_total{${L},status_class="1xx"}`), 1);
  assert.equal(v.get(`trellis_responses_total{${L},status_class="2xx"}`), 2);
  assert.equal(v.get(`trellis_responses_total{${L},status_class="3xx"}`), 1);
  assert.equal(v.get(`trellis_responses_total{${L},status_class="4xx"}`), 1);
  assert.equal(v.get(`trellis_responses_total{${L},status_class="5xx"}`), 1);
  const expected: Record<string, number> = {
    '0.1': 1,
    '0.25': 1,
    '0.5': 2,
    '1': 3,
    '2.5': 3,
    '5': 3,
    '10': 4,
    '25': 4,
    '5000': 4,
    '10000': 4,
    '30000': 5,
    '+Inf': 6,
  };
  for (const [le, n] of Object.entries(expected)) {
    assert.equal(v.get(`trellis_request_duration_ms_bucket{${L},le="${le}"}`), n, `le=${le}`);
  }
  const buckets = [...v.keys()].filter((k) => k.startsWith('trellis_request_duration_ms_bucket'));
  assert.equal(buckets.length, LATENCY_BUCKETS_MS.length + 1);
  assert.equal(v.get(`trellis_request_duration_ms_sum{${L}}`), 0.1 + 0.3 + 7 + 30000 + 45000 + 1);
  assert.equal(v.get(`trellis_request_duration_ms_count{${L}}`), 6);
  assert.match(text, /^# TYPE trellis_request_duration_ms histogram$/m);
  assert.match(text, /^# TYPE trellis_responses_total counter$/m);
});

test('odd statuses count as 5xx; NaN and negative latencies as 0', async () => {
  const registry = new Registry();
  const stats = new ProxyStats(registry, { defaultMetrics: false });
  const s = stats.requestStats(labels);
  stats.recordResponse(s, 0, Number.NaN);
  stats.recordResponse(s, 999, -5);
  assert.deepEqual([...s.responses], [0, 0, 0, 0, 2]);
  assert.equal(s.latencyBuckets[0], 2);
  assert.equal(s.latencySumMs, 0);
});

test('requestStats is memoized by labels; retainOnly drops the stats the config in force does not use', async () => {
  const registry = new Registry();
  const stats = new ProxyStats(registry, { defaultMetrics: false });
  const a = stats.requestStats(labels);
  assert.equal(stats.requestStats({ ...labels }), a);
  const b = stats.requestStats({ ...labels, direction: 'inbound' });
  assert.notEqual(b, a);
  const c = stats.requestStats({ ...labels, route: 'r1\u0000c1' });
  assert.notEqual(c, a);
  stats.retainOnly([a, b, c]); // config 1 swapped in: it uses all three
  stats.retainOnly([a]); // config 2 keeps only `a`
  const text = await registry.metrics();
  assert.match(text, /trellis_requests_total\{direction="outbound"/);
  assert.doesNotMatch(text, /direction="inbound"/);
  assert.equal(stats.requestStats(labels), a);
  assert.notEqual(stats.requestStats({ ...labels, direction: 'inbound' }), b);
});

test('connection gauges and counters per listener and per cluster', async () => {
  const registry = new Registry();
  const stats = new ProxyStats(registry, { defaultMetrics: false });
  const down = stats.listenerConnections('out');
  assert.equal(stats.listenerConnections('out'), down);
  connectionOpened(down);
  connectionOpened(down);
  connectionClosed(down);
  connectionClosed(down);
  connectionClosed(down); // a double close must not go negative
  const up = stats.clusterConnections('c1');
  connectionOpened(up);
  const v = lines(await registry.metrics());
  assert.equal(v.get('trellis_downstream_connections_active{listener="out"}'), 0);
  assert.equal(v.get('trellis_downstream_connections_total{listener="out"}'), 2);
  assert.equal(v.get('trellis_upstream_connections_active{cluster="c1"}'), 1);
  assert.equal(v.get('trellis_upstream_connections_total{cluster="c1"}'), 1);
});

test('label values are escaped; resetMetrics zeroes counts but not open connections', async () => {
  const registry = new Registry();
  const stats = new ProxyStats(registry, { defaultMetrics: false });
  const s = stats.requestStats({ ...labels, route: 'a"b\\c' });
  s.requests++;
  stats.recordResponse(s, 200, 1);
  const c = stats.listenerConnections('out');
  connectionOpened(c);
  assert.match(await registry.metrics(), /route="a\\"b\\\\c"/);
  registry.resetMetrics();
  assert.equal(s.requests, 0);
  assert.equal(s.latencyCount, 0);
  assert.deepEqual([...s.responses], [0, 0, 0, 0, 0]);
  assert.equal(c.active, 1);
  assert.equal(c.total, 0);
});

test('default process metrics carry the trellis_ prefix; OpenMetrics output stays valid', async () => {
  const registry = new Registry();
  const stats = new ProxyStats(registry);
  stats.requestStats(labels).requests++;
  const text = await registry.metrics();
  assert.match(text, /^trellis_process_cpu_user_seconds_total \d/m);
  assert.match(text, /^trellis_nodejs_heap_size_used_bytes \d/m);
  const openMetrics = new Registry<OpenMetricsContentType>();
  openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  new ProxyStats(openMetrics, { defaultMetrics: false }).requestStats(labels).requests++;
  const om = await openMetrics.metrics();
  assert.match(om, /^# TYPE trellis_requests counter$/m);
  assert.match(om, new RegExp(`^trellis_requests_total\\{${L}\\} 1$`, 'm'));
  assert.match(om, /# EOF\n$/);
});
