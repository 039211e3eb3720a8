import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import cluster, { type Worker } from 'node:cluster';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Counter, Registry } from 'prom-client';
import { ClusterMetrics } from './workers.ts';

cluster.setupPrimary({ exec: fileURLToPath(new URL('./fixtures/stats-worker.ts', import.meta.url)) });

const workers = new Set<Worker>();
const collectors = new Set<ClusterMetrics>();

async function stopAll(): Promise<void> {
  for (const c of collectors) c.close();
  collectors.clear();
  await Promise.all(
    [...workers].map(async (w) => {
      if (w.process.exitCode === null && w.process.signalCode === null) {
        const exited = once(w, 'exit');
        w.process.kill();
        await exited;
      }
    }),
  );
  workers.clear();
}
afterEach(stopAll);
after(stopAll);

function collector(timeoutMs?: number, primaryRegistry?: Registry): ClusterMetrics {
  const c = new ClusterMetrics({ timeoutMs, primaryRegistry });
  collectors.add(c);
  return c;
}

/** Forks a fixture worker and waits (at most 15 s) until it has recorded and announced. */
async function fork(env: Record<string, string>): Promise<Worker> {
  const w = cluster.fork(env);
  workers.add(w);
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('worker did not get ready')), 15_000);
    w.on('message', (m: unknown) => {
      if ((m as { type?: unknown }).type === 'fixture-ready') {
        clearTimeout(timer);
        resolve();
      }
    });
    w.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}`));
    });
  });
  await ready;
  return w;
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const L = 'direction="outbound",listener="out",route="r1",cluster="c1"';

test('sums counters, histogram buckets and gauges over two workers', async () => {
  const metrics = collector();
  await Promise.all([fork({ STATS_SCALE: '2' }), fork({ STATS_SCALE: '5' })]);
  const text = await metrics.metrics();
  assert.equal(value(text, `trellis_requests_total{${L}}`), 2 + 1 + 5 + 1);
  assert.equal(value(text, `trellis_responses_total{${L},status_class="2xx"}`), 7);
  assert.equal(value(text, `trellis_responses_total{${L},status_class="5xx"}`), 2);
  assert.equal(value(text, `trellis_request_duration_ms_bucket{${L},le="2.5"}`), 0);
  assert.equal(value(text, `trellis_request_duration_ms_bucket{${L},le="5"}`), 7);
  assert.equal(value(text, `trellis_request_duration_ms_bucket{${L},le="500"}`), 7);
  assert.equal(value(text, `trellis_request_duration_ms_bucket{${L},le="1000"}`), 9);
  assert.equal(value(text, `trellis_request_duration_ms_bucket{${L},le="+Inf"}`), 9);
  assert.equal(value(text, `trellis_request_duration_ms_sum{${L}}`), 7 * 3 + 2 * 700);
  assert.equal(value(text, `trellis_request_duration_ms_count{${L}}`), 9);
  assert.equal(value(text, 'trellis_downstream_connections_active{listener="out"}'), 7);
  assert.equal(value(text, 'trellis_downstream_connections_total{listener="out"}'), 7);
  assert.match(text, /# TYPE trellis_request_duration_ms histogram/);

  // The edge families merge the same way, label set by label set.
  const U = 'source_namespace="unknown",source_version="unknown",source_principal="unknown"';
  const D =
    'destination_service="unknown",destination_namespace="unknown",destination_workload="reviews-v1",' +
    'destination_version="unknown",destination_principal="unknown"';
  const E = `reporter="source",source_workload="web-v1",${U},${D},route="r1",response_code="200",grpc_status="",mtls="true"`;
  assert.equal(value(text, `trellis_edge_requests_total{${E}}`), 7);
  assert.equal(value(text, `trellis_edge_request_duration_ms_bucket{${E},le="5"}`), 7);
  assert.equal(value(text, `trellis_edge_request_bytes_sum{${E}}`), 70);
  assert.equal(value(text, `trellis_edge_response_bytes_bucket{${E},le="64"}`), 7);
  assert.equal(value(text, `trellis_edge_response_bytes_count{${E}}`), 7);
  const T = `reporter="source",source_workload="web-v1",${U},${D},mtls="true"`;
  assert.equal(value(text, `trellis_tcp_connections_opened_total{${T}}`), 2);
  assert.equal(value(text, `trellis_tcp_received_bytes_total{${T}}`), 7);
  assert.equal(value(text, 'trellis_metrics_series_overflow_total'), 0);
});

test('merges the primary registry and default metrics of every process', async () => {
  const primary = new Registry();
  new Counter({ name: 'trellis_config_reloads_total', help: 'test', registers: [primary] }).inc(2);
  const metrics = collector(undefined, primary);
  await Promise.all([
    fork({ STATS_SCALE: '1', DEFAULT_METRICS: '1' }),
    fork({ STATS_SCALE: '1', DEFAULT_METRICS: '1' }),
  ]);
  const text = await metrics.metrics();
  assert.equal(value(text, `trellis_requests_total{${L}}`), 4);
  assert.equal(value(text, 'trellis_config_reloads_total'), 2);
  assert.match(text, /^trellis_process_resident_memory_bytes \d+/m);
});

test('a collector created after the workers started still finds them', async () => {
  await fork({ STATS_SCALE: '3' });
  const metrics = collector();
  // The workers re-announce in answer to the collector's broadcast; give the IPC a moment.
  let text = '';
  for (let i = 0; i < 50 && value(text, `trellis_requests_total{${L}}`) === undefined; i++) {
    await new Promise((r) => setTimeout(r, 20));
    text = await metrics.metrics();
  }
  assert.equal(value(text, `trellis_requests_total{${L}}`), 4);
});

test('a worker that never answers fails the scrape with a stable code', async () => {
  const metrics = collector(300);
  await Promise.all([fork({ STATS_SCALE: '1' }), fork({ FIXTURE_MODE: 'mute' })]);
  await assert.rejects(metrics.metrics(), { code: 'TRELLIS_METRICS_TIMEOUT' });
});

test('a worker that exits mid-scrape is left out of that scrape', async () => {
  const metrics = collector(10_000);
  await Promise.all([fork({ STATS_SCALE: '2' }), fork({ STATS_SCALE: '5', FIXTURE_MODE: 'exit' })]);
  const text = await metrics.metrics();
  assert.equal(value(text, `trellis_requests_total{${L}}`), 3);
});

test('no workers: an empty scrape, not an error', async () => {
  const text = await collector().metrics();
  assert.equal(text.trim(), '');
});
