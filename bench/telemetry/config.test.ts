import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyConfig } from '../../src/model/schema.ts';
import { loadSdk } from '../../src/tracing/export-pipeline.ts';
import { countSpans, startOtlpSink, telemetryConfig } from './config.ts';
import { categorize, profileShares } from './profile.ts';

const ports = {
  port: 10001,
  adminPort: 10002,
  upstreamPort: 10003,
  otlpEndpoint: 'http://127.0.0.1:10004/v1/traces',
};

test('off and full are valid models that differ only in telemetry', () => {
  const off = ProxyConfig.parse(telemetryConfig('off', ports));
  const full = ProxyConfig.parse(telemetryConfig('full', ports));
  assert.deepEqual(off.telemetry, {
    metrics: { enabled: false },
    tracing: { enabled: false, samplingPercent: 1, flushInterval: 1000 },
    accessLog: { enabled: false, path: '-' },
  });
  assert.deepEqual(full.telemetry, {
    metrics: { enabled: true },
    tracing: { enabled: true, samplingPercent: 1, otlpEndpoint: ports.otlpEndpoint, flushInterval: 1000 },
    accessLog: { enabled: false, path: '-' },
  });
  const rest = (c: ProxyConfig): unknown => ({ ...c, telemetry: undefined, node: undefined });
  assert.deepEqual(rest(off), rest(full));
  assert.equal(full.clusters[0]?.endpoints[0]?.port, 10003);
});

test('the sink counts the spans the proxy exporter sends as OTLP/JSON, and answers 200', async (t) => {
  const sink = await startOtlpSink();
  t.after(() => sink.close());
  const sdk = await loadSdk({
    otlpEndpoint: sink.url,
    zipkinEndpoint: undefined,
    serviceName: 'bench',
    instanceId: 'bench-1',
    flushIntervalMs: 50,
  });
  t.after(() => sdk.shutdown());
  for (let i = 1; i <= 3; i++) {
    const now = performance.now();
    sdk.emit({
      name: 'GET /',
      kind: 'client',
      traceId: `${'0'.repeat(31)}${i}`,
      spanId: `${'0'.repeat(15)}${i}`,
      parentSpanId: undefined,
      traceState: undefined,
      startTime: now - 1,
      endTime: now,
      attributes: { 'http.response.status_code': 200 },
      error: false,
      errorMessage: undefined,
    });
  }
  await sdk.flush();
  const c = sink.counts();
  assert.equal(c.spans, 3);
  assert.ok(c.posts >= 1 && c.bytes > 0);
  sink.reset();
  assert.deepEqual(sink.counts(), { posts: 0, spans: 0, bytes: 0 });
  assert.equal(countSpans('not json'), 0);
});

test('profile samples are summed by where the code lives; shares are of busy samples', () => {
  assert.equal(categorize('(idle)', ''), 'idle');
  assert.equal(categorize('(garbage collector)', ''), 'gc');
  assert.equal(categorize('finish', 'file:///w/src/tracing/layer.ts'), 'tracing');
  assert.equal(
    categorize('export', 'file:///w/node_modules/@opentelemetry/otlp-exporter-base/x.js'),
    'tracing',
  );
  assert.equal(categorize('record', 'file:///w/src/metrics/edge-stats.ts'), 'metrics');
  assert.equal(categorize('observe', 'file:///w/node_modules/prom-client/lib/histogram.js'), 'metrics');
  assert.equal(categorize('writev', 'node:internal/stream_base_commons'), 'other');
  const frame = (functionName: string, url: string, id: number, hitCount: number) => ({
    id,
    hitCount,
    callFrame: { functionName, url },
  });
  const profile = {
    startTime: 0,
    endTime: 1,
    nodes: [
      frame('(idle)', '', 1, 50),
      frame('finish', 'file:///w/src/tracing/layer.ts', 2, 5),
      frame('record', 'file:///w/src/metrics/edge-stats.ts', 3, 5),
      frame('(garbage collector)', '', 4, 10),
      frame('onData', 'file:///w/src/http1/downstream.ts', 5, 30),
    ],
  };
  const { samples, busyShare } = profileShares(JSON.stringify(profile));
  assert.deepEqual(samples, { tracing: 5, metrics: 5, gc: 10, idle: 50, other: 30 });
  assert.deepEqual(busyShare, { tracing: 0.1, metrics: 0.1, gc: 0.2 });
});
