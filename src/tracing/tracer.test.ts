// The tracer of a config on a real proxy: the SDK stays unloaded unless tracing is on, spans of
// requests in flight survive a reload and a tracer's shutdown, proxy errors and cancelled
// exchanges are exported as ERROR spans with their code.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { listen, portOf } from '../../test/support/sockets.ts';
import { ProxyConfig, type ProxyConfigInput } from '../model/schema.ts';
import { reload, startProxy } from '../tls/testing.ts';
import { startCollector, type Collector } from './testing.ts';
import { compileTracer, shutdownTracing } from './tracer.ts';

function config(c: Collector, upstreamPort: number, version = '1'): ProxyConfigInput {
  return {
    version,
    node: { id: 'edge-1', service: 'edge' },
    admin: { port: 0 },
    listeners: [{ name: 'outbound', direction: 'outbound', port: 0, protocol: 'http', routeTable: 'out' }],
    routeTables: [
      {
        name: 'out',
        virtualHosts: [{ name: 'all', domains: ['*'], routes: [{ backends: [{ cluster: 'up' }] }] }],
      },
    ],
    clusters: [{ name: 'up', protocol: 'http1', endpoints: [{ address: '127.0.0.1', port: upstreamPort }] }],
    telemetry: {
      tracing: { enabled: true, samplingPercent: 100, otlpEndpoint: c.otlpUrl, flushInterval: 20 },
    },
  };
}

async function collector(t: TestContext): Promise<Collector> {
  const c = await startCollector();
  t.after(async () => {
    await shutdownTracing();
    await c.close();
  });
  return c;
}

/** An app that answers only when told to (release()), to keep a request in flight. */
async function heldApp(t: TestContext): Promise<{ port: number; arrived: Promise<void>; release(): void }> {
  let release = (): void => {};
  let arrived = (): void => {};
  const arrivedP = new Promise<void>((r) => (arrived = r));
  const s = http.createServer((_req, res) => {
    release = () => res.end('late');
    arrived();
  });
  await listen(s);
  t.after(() => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve()))));
  return { port: portOf(s), arrived: arrivedP, release: () => release() };
}

test('the OpenTelemetry SDK is loaded only once a config turns tracing on', () => {
  const compiled = fileURLToPath(new URL('../proxy/compiled-config.ts', import.meta.url));
  const schema = fileURLToPath(new URL('../model/schema.ts', import.meta.url));
  const script = `
    import { createRequire } from 'node:module';
    import { Registry } from 'prom-client';
    const { compileConfig } = await import(${JSON.stringify(compiled)});
    const { ProxyConfig } = await import(${JSON.stringify(schema)});
    const { ProxyStats } = await import(${JSON.stringify(fileURLToPath(new URL('../metrics/proxy-stats.ts', import.meta.url)))});
    const { TransportRegistry } = await import(${JSON.stringify(fileURLToPath(new URL('../proxy/transports.ts', import.meta.url)))});
    const cache = createRequire(import.meta.url).cache;
    const sdkLoaded = () => Object.keys(cache).some((k) => k.includes('sdk-trace'));
    const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
    const listeners = [{ name: 'o', direction: 'outbound', port: 0, routeTable: 'rt' }];
    const routeTables = [{ name: 'rt', virtualHosts: [{ name: 'a', domains: ['*'], routes: [{ backends: [{ cluster: 'c' }] }] }] }];
    const clusters = [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 9 }] }];
    const base = { listeners, routeTables, clusters };
    compileConfig(ProxyConfig.parse(base), new TransportRegistry(), stats);
    const off = sdkLoaded();
    const tracing = { enabled: true, otlpEndpoint: 'http://127.0.0.1:9/v1/traces' };
    const on = compileConfig(ProxyConfig.parse({ ...base, telemetry: { tracing } }), new TransportRegistry(), stats);
    await on.tracer.flush();
    console.log(JSON.stringify({ off, on: sdkLoaded() }));
    await on.tracer.shutdown(0);
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), { off: false, on: true });
});

test('a request in flight across a reload still gets its span exported', async (t) => {
  const c = await collector(t);
  const app = await heldApp(t);
  const proxy = await startProxy(t, config(c, app.port));
  const pending = fetch(`http://127.0.0.1:${proxy.ports().outbound}/slow`);
  await app.arrived;
  await reload(proxy, config(c, app.port, '2'));
  app.release();
  assert.equal(await (await pending).text(), 'late');
  await c.waitFor((spans) => spans.some((s) => s.attributes['url.path'] === '/slow'));
  const span = c.spans.find((s) => s.attributes['url.path'] === '/slow')!;
  assert.equal(span.service, 'edge');
  assert.equal(span.kind, 'client');
});

test("a replaced config's tracer waits for its open spans, then flushes them", async (t) => {
  const c = await collector(t);
  const cfg = ProxyConfig.parse(config(c, 9));
  const tracer = compileTracer(cfg)!;
  const successor = compileTracer(cfg)!; // the next config: same export settings, same pipeline
  tracer.spanStarted();
  const shutdown = tracer.shutdown(5_000);
  const now = performance.now();
  tracer.spanEnded({
    name: 'GET',
    kind: 'server',
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    parentSpanId: undefined,
    traceState: undefined,
    startTime: now - 5,
    endTime: now,
    attributes: { 'http.request.method': 'GET' },
    error: false,
    errorMessage: undefined,
  });
  await shutdown;
  assert.deepEqual(
    c.spans.map((s) => s.spanId),
    ['b7ad6b7169203331'],
  );
  await successor.shutdown(0);
});

test('proxy errors and cancelled exchanges are ERROR spans carrying the error code', async (t) => {
  const c = await collector(t);
  const closed = net.createServer();
  await listen(closed);
  const deadPort = portOf(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const failing = await startProxy(t, config(c, deadPort));
  const res = await fetch(`http://127.0.0.1:${failing.ports().outbound}/down`);
  assert.equal(res.status, 503);
  await res.text();

  const app = await heldApp(t);
  const hanging = await startProxy(t, config(c, app.port));
  const socket = net.connect(hanging.ports().outbound!, '127.0.0.1');
  socket.write('GET /gone HTTP/1.1\r\nhost: x\r\n\r\n');
  await app.arrived;
  socket.destroy();

  await c.waitFor((spans) => spans.length >= 2);
  const down = c.spans.find((s) => s.attributes['url.path'] === '/down')!;
  assert.equal(down.error, true);
  assert.equal(down.attributes['error.type'], 'TRELLIS_UPSTREAM_CONNECT_FAILED');
  assert.equal(down.attributes['http.response.status_code'], 503);
  const gone = c.spans.find((s) => s.attributes['url.path'] === '/gone')!;
  assert.equal(gone.error, true);
  assert.equal(gone.attributes['error.type'], 'TRELLIS_DOWNSTREAM_RESET');
  app.release();
});
