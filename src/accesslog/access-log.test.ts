// Access logs through a real proxy: one JSON line per request with what happened to it (a plain
// 200, a dead upstream, an ejected one, a rate limit, a retry, a client that left, an mTLS pair
// with a denial), the file sink kept across reloads, stdout flushed at exit, and nothing at all
// when access logs are off.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { openTestCa } from '../identity/testing.ts';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ProxyConfig, type ProxyConfigInput } from '../model/schema.ts';
import { TransportRegistry } from '../proxy/transports.ts';
import { compileConfig } from '../proxy/compiled-config.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import {
  answer,
  closedPort,
  eventually,
  httpRequest,
  resilienceConfig,
  startCountingUpstream,
  startTestProxy,
  type CountingUpstream,
  type TestProxy,
} from '../resilience/test-support.ts';
import {
  clientConfig,
  credentials,
  REVIEWS,
  secretsOf,
  serverConfig,
  startEchoApp,
  startProxy,
  WEB,
} from '../tls/testing.ts';
import type { AccessLogEntry } from './entry.ts';
import { accessLogLayer } from './layer.ts';
import { closeAccessLog, openAccessLog } from './sink.ts';

type Line = AccessLogEntry & { type: string };

const stats = (): ProxyStats => new ProxyStats(new Registry(), { defaultMetrics: false });

/** A log file in a temp dir; the sink is closed and the dir removed after the test. */
function logFile(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-accesslog-'));
  const file = join(dir, 'access.log');
  t.after(() => {
    closeAccessLog(file);
    rmSync(dir, { recursive: true, force: true });
  });
  return file;
}

function lines(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** The first `n` lines, once written (a line is written as the response ends). */
async function linesOf(file: string, n: number): Promise<Line[]> {
  await eventually(() => lines(file).length >= n, 5000, 10);
  return lines(file).slice(0, n);
}

function withLog(config: ProxyConfigInput, file: string): ProxyConfigInput {
  return { ...config, telemetry: { accessLog: { enabled: true, path: file } } };
}

async function proxyFor(t: TestContext, config: ProxyConfigInput): Promise<TestProxy> {
  const proxy = await startTestProxy(config);
  t.after(() => proxy.close());
  return proxy;
}

async function upstream(
  t: TestContext,
  handler: Parameters<typeof startCountingUpstream>[0],
): Promise<CountingUpstream> {
  const up = await startCountingUpstream(handler);
  t.after(() => up.close());
  return up;
}

test('a 200: one line with the request, the route, the endpoint, the sizes; no query', async (t) => {
  const file = logFile(t);
  const up = await upstream(t, (req, res) => answer(req, res, 200, 'twelve bytes'));
  const proxy = await proxyFor(t, withLog(resilienceConfig({}, [up]), file));
  const r = await httpRequest({
    port: proxy.port,
    method: 'POST',
    path: '/items/7?token=s3cret&x=1',
    body: 'hello',
    headers: {
      host: 'shop.example',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      'x-request-id': 'req-1',
      'user-agent': 'curl/8.0',
    },
  });
  assert.equal(r.status, 200);
  const [line] = await linesOf(file, 1);
  assert.ok(line);
  assert.equal(line.type, 'access');
  assert.ok(Math.abs(Date.parse(line.time) - Date.now()) < 60_000, line.time);
  assert.deepEqual(
    {
      traceId: line.traceId,
      requestId: line.requestId,
      direction: line.direction,
      listener: line.listener,
      route: line.route,
      destination: line.destination,
      method: line.method,
      authority: line.authority,
      path: line.path,
      protocol: line.protocol,
      status: line.status,
      flags: line.flags,
      bytesReceived: line.bytesReceived,
      bytesSent: line.bytesSent,
      userAgent: line.userAgent,
    },
    {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      requestId: 'req-1',
      direction: 'outbound',
      listener: 'main',
      route: 'r',
      destination: { cluster: 'c', endpoint: `127.0.0.1:${up.port}` },
      method: 'POST',
      authority: 'shop.example',
      path: '/items/7',
      protocol: 'http1',
      status: 200,
      flags: [],
      bytesReceived: 5,
      bytesSent: 12,
      userAgent: 'curl/8.0',
    },
  );
  assert.equal(line.source.address, '127.0.0.1');
  assert.ok(line.source.port > 0);
  assert.equal(line.source.identity, undefined, 'no mesh identity without mTLS');
  assert.ok(line.durationMs >= 0 && line.upstreamMs !== undefined && line.upstreamMs <= line.durationMs);
  assert.equal(line.error, undefined);
  assert.doesNotMatch(readFileSync(file, 'utf8'), /s3cret/);
});

test('a dead upstream: 503 upstream_connect_failed; once ejected: no_healthy_upstream, ejected', async (t) => {
  const file = logFile(t);
  const port = await closedPort();
  const proxy = await proxyFor(
    t,
    withLog(
      resilienceConfig({}, [{ port }], {
        panicThreshold: 0,
        outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 1, interval: 60_000 },
      }),
      file,
    ),
  );
  assert.equal((await httpRequest({ port: proxy.port, path: '/a' })).status, 503);
  assert.equal((await httpRequest({ port: proxy.port, path: '/b' })).status, 503);
  const [dead, ejected] = await linesOf(file, 2);
  assert.equal(dead?.status, 503);
  assert.deepEqual(dead?.flags, ['upstream_connect_failed']);
  assert.equal(dead?.error, 'TRELLIS_UPSTREAM_CONNECT_FAILED');
  assert.deepEqual(dead?.destination, { cluster: 'c', endpoint: `127.0.0.1:${port}` });
  assert.equal(dead?.upstreamMs, undefined, 'no upstream answered');
  assert.ok((dead?.bytesSent ?? 0) > 0, 'the error text the client got');
  assert.equal(ejected?.status, 503);
  assert.deepEqual(ejected?.flags, ['no_healthy_upstream', 'ejected']);
  assert.equal(ejected?.error, 'TRELLIS_NO_HEALTHY_ENDPOINT');
  assert.equal(ejected?.destination.endpoint, undefined, 'no endpoint was picked');
});

test('a rate limit: 429 rate_limited, answered before any cluster', async (t) => {
  const file = logFile(t);
  const up = await upstream(t, (req, res) => answer(req, res, 200, 'ok'));
  const proxy = await proxyFor(
    t,
    withLog(
      resilienceConfig({ rateLimit: { maxTokens: 1, tokensPerFill: 1, fillInterval: 3_600_000 } }, [up]),
      file,
    ),
  );
  assert.equal((await httpRequest({ port: proxy.port })).status, 200);
  assert.equal((await httpRequest({ port: proxy.port })).status, 429);
  const [ok, limited] = await linesOf(file, 2);
  assert.deepEqual(ok?.flags, []);
  assert.equal(limited?.status, 429);
  assert.deepEqual(limited?.flags, ['rate_limited']);
  assert.equal(limited?.error, 'TRELLIS_RATE_LIMITED');
  assert.deepEqual(limited?.destination, {});
  assert.equal(limited?.upstreamMs, undefined);
  assert.equal(up.requests, 1);
});

test('a retried request: 200 with retried and two attempts', async (t) => {
  const file = logFile(t);
  const up = await upstream(t, (req, res, n) =>
    answer(req, res, n === 1 ? 503 : 200, n === 1 ? 'busy' : 'ok'),
  );
  const proxy = await proxyFor(
    t,
    withLog(resilienceConfig({ retries: { retryOn: ['5xx'], backoff: { base: 1, max: 5 } } }, [up]), file),
  );
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-trellis-attempts'], '2');
  const [line] = await linesOf(file, 1);
  assert.equal(line?.status, 200);
  assert.deepEqual(line?.flags, ['retried']);
  assert.equal(line?.attempts, 2);
  assert.equal(line?.destination.endpoint, `127.0.0.1:${up.port}`);
});

test('a client that leaves: 499 downstream_reset', async (t) => {
  const file = logFile(t);
  let arrived: () => void = () => {};
  const got = new Promise<void>((resolve) => (arrived = resolve));
  // Never answers: the client gives up first.
  const up = await upstream(t, () => arrived());
  const proxy = await proxyFor(t, withLog(resilienceConfig({}, [up]), file));
  const req = http.request({ host: '127.0.0.1', port: proxy.port, path: '/slow', agent: false });
  req.on('error', () => {});
  req.end();
  await got;
  req.destroy();
  const [line] = await linesOf(file, 1);
  assert.equal(line?.status, 499);
  assert.deepEqual(line?.flags, ['downstream_reset']);
  assert.equal(line?.path, '/slow');
});

test('mTLS pair with a denial: 403 denied on the server, identities on both sides', async (t) => {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const app = await startEchoApp(t);
  const serverLog = logFile(t);
  const clientLog = logFile(t);
  const deny = {
    authorization: [
      {
        name: 'default/deny-admin',
        action: 'DENY' as const,
        rules: [{ to: [{ operation: { paths: ['/admin'] } }] }],
      },
    ],
  };
  const server = await startProxy(
    t,
    withLog(
      serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle), { inboundSecurity: deny }),
      serverLog,
    ),
  );
  const client = await startProxy(
    t,
    withLog(clientConfig(server.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle)), clientLog),
  );
  const port = client.ports().outbound!;
  assert.equal((await httpRequest({ port, path: '/reviews/1', headers: { host: 'reviews' } })).status, 200);
  assert.equal((await httpRequest({ port, path: '/admin', headers: { host: 'reviews' } })).status, 403);

  const [inOk, inDenied] = await linesOf(serverLog, 2);
  assert.equal(inOk?.direction, 'inbound');
  assert.equal(inOk?.source.identity, WEB);
  assert.equal(inOk?.destination.identity, REVIEWS);
  assert.deepEqual(inOk?.flags, []);
  assert.equal(inDenied?.status, 403);
  assert.deepEqual(inDenied?.flags, ['denied']);
  assert.equal(inDenied?.error, 'TRELLIS_RBAC_DENIED');
  assert.equal(inDenied?.destination.cluster, undefined, 'denied before routing');

  const [outOk, outDenied] = await linesOf(clientLog, 2);
  assert.equal(outOk?.source.identity, WEB);
  assert.deepEqual(outOk?.destination, {
    cluster: 'reviews',
    endpoint: `127.0.0.1:${server.ports().inbound}`,
    identity: REVIEWS,
  });
  // The 403 came from the other side: this hop did nothing wrong, so no flag here.
  assert.equal(outDenied?.status, 403);
  assert.deepEqual(outDenied?.flags, []);
  assert.equal(outDenied?.error, undefined);
});

test('the file is opened once per path and kept across reloads', async (t) => {
  const file = logFile(t);
  const up = await upstream(t, (req, res) => answer(req, res, 200, 'ok'));
  const config = withLog(resilienceConfig({}, [up]), file);
  const server = new ProxyServer(ProxyConfig.parse(config), stats());
  await server.start();
  t.after(() => server.drain(0));
  const sink = openAccessLog(file);
  await httpRequest({ port: server.ports().main!, path: '/before' });
  await server.reload(ProxyConfig.parse({ ...config, version: 'v2' }));
  assert.equal(openAccessLog(file), sink, 'the same sink, not a second descriptor');
  await httpRequest({ port: server.ports().main!, path: '/after' });
  const got = await linesOf(file, 2);
  assert.deepEqual(
    got.map((l) => l.path),
    ['/before', '/after'],
  );
  assert.equal(sink.dropped, 0);
});

test('access logs off (the default): no layer, no file, no line', async (t) => {
  const file = logFile(t);
  const up = await upstream(t, (req, res) => answer(req, res, 200, 'ok'));
  const config = resilienceConfig({}, [up]);
  const proxy = await proxyFor(t, { ...config, telemetry: { accessLog: { enabled: false, path: file } } });
  assert.equal((await httpRequest({ port: proxy.port })).status, 200);
  const defaults = await proxyFor(t, config);
  assert.equal((await httpRequest({ port: defaults.port })).status, 200);
  assert.equal(existsSync(file), false);
  const compiled = compileConfig(ProxyConfig.parse(config), new TransportRegistry(), stats());
  const env = compiled.listeners.get('main')!.env!;
  assert.equal(env.accessLog, undefined);
  assert.equal(accessLogLayer(env), undefined);
});

test('an access log that cannot be opened refuses the config, with its code', async (t) => {
  const up = await upstream(t, (req, res) => answer(req, res, 200, 'ok'));
  const config = withLog(resilienceConfig({}, [up]), '/dev/null/access.log');
  assert.throws(
    () => new ProxyServer(ProxyConfig.parse(config), stats()),
    (err: unknown) =>
      err instanceof Error && (err as { code?: unknown }).code === 'TRELLIS_ACCESS_LOG_OPEN_FAILED',
  );
});

test('stdout: lines written asynchronously reach the pipe before the process exits', async () => {
  const sinkModule = fileURLToPath(new URL('./sink.ts', import.meta.url));
  const script = `
    const { openAccessLog } = await import(${JSON.stringify(sinkModule)});
    const sink = openAccessLog('-');
    for (let i = 0; i < 3; i++) sink.write({ time: 't', path: '/p' + i, flags: [] });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const got = Buffer.concat(out)
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { type: string; path: string });
  assert.deepEqual(
    got.map((l) => [l.type, l.path]),
    [
      ['access', '/p0'],
      ['access', '/p1'],
      ['access', '/p2'],
    ],
  );
});
