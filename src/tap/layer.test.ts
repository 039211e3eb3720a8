// The tap layer: nothing reported (and the request untouched) when nobody taps, filters, credentials
// redacted, body prefixes of exactly N bytes that leave the body itself alone, the per-session rate
// limit with its drops counted, `--to` decided at the cluster, sessions surviving a reload, and the
// events of requests in flight when a session stops discarded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ProxyConfig, type ProxyConfigInput } from '../model/schema.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import { testRequest } from '../proxy/testing.ts';
import type { Cancel, Dispatch, ProxyRequest, ResponseController, ResponseHandler } from '../proxy/types.ts';
import { eventually, httpRequest } from '../../test/proxy/harness.ts';
import { listen, portOf } from '../../test/support/sockets.ts';
import { captureHeaders, REDACTED } from './capture.ts';
import { TapHeaders, type TapEvent, type TapFilter } from './event.ts';
import { TapHub, type TapBatch, type TapSpec } from './hub.ts';
import { tapLayer } from './layer.ts';

const CONTROLLER: ResponseController = { resume() {}, abort() {} };
const noop: Cancel = () => {};

function request(o: Partial<ProxyRequest> = {}): ProxyRequest {
  return testRequest({
    authority: 'reviews.default:9080',
    path: '/reviews/1?x=1',
    headers: ['user-agent', 'test', 'authorization', 'Bearer secret', 'cookie', 'session=abc'],
    source: { address: '10.0.0.7', port: 51234, identity: 'spiffe://cluster.local/ns/default/sa/web' },
    listener: 'inbound',
    ...o,
  });
}

const handler: ResponseHandler = {
  onResponseStart() {},
  onResponseData: () => true,
  onResponseEnd() {},
  onResponseError() {},
};

/** Answers 200 with a set-cookie header and a 5-byte body, at once. */
const seen: ProxyRequest[] = [];
const bottom: Dispatch = (req, _body, h) => {
  seen.push(req);
  h.onResponseStart(200, ['content-type', 'text/plain', 'set-cookie', 'id=1'], CONTROLLER);
  h.onResponseData(Buffer.from('hello'));
  h.onResponseEnd(null);
  return noop;
};

interface Tapped {
  hub: TapHub;
  batches: TapBatch[];
  events(): TapEvent[];
  dropped(): number;
  start(spec: Partial<TapSpec> & { filter?: TapFilter }): void;
}

function tapped(t: TestContext, now?: () => number): Tapped {
  const hub = new TapHub({ flushMs: 60_000, ...(now !== undefined ? { now } : {}) });
  t.after(() => hub.stopAll());
  const batches: TapBatch[] = [];
  const flushAll = (): void => {
    for (const s of hub.sessions) s.flush();
  };
  return {
    hub,
    batches,
    events: () => (flushAll(), batches.flatMap((b) => b.events)),
    dropped: () => (flushAll(), batches.reduce((n, b) => n + b.dropped, 0)),
    start: (spec) =>
      void hub.start({ id: spec.id ?? 'tap-1', filter: spec.filter ?? {}, ...spec }, (b) => {
        batches.push(b);
        return true;
      }),
  };
}

test('no tap: the request goes on untouched and nothing is reported', (t) => {
  const tap = tapped(t);
  const dispatch = tapLayer({ tap: tap.hub, direction: 'inbound', meshTls: undefined })!(bottom);
  const req = request();
  seen.length = 0;
  dispatch(req, null, handler);
  assert.equal(seen[0], req, 'the very same request object');
  assert.deepEqual(tap.events(), []);
  // A session that matches nothing: still nothing, and the request is not copied.
  tap.start({ filter: { method: 'POST' } });
  dispatch(req, null, handler);
  assert.equal(seen[1], req);
  assert.deepEqual(tap.events(), []);
});

test('filters: direction, method, path prefix, authority (host alone matches any port)', (t) => {
  const cases: [TapFilter, Partial<ProxyRequest>, boolean][] = [
    [{ direction: 'inbound' }, {}, true],
    [{ direction: 'outbound' }, {}, false],
    [{ method: 'GET' }, {}, true],
    [{ method: 'POST' }, {}, false],
    [{ pathPrefix: '/reviews' }, {}, true],
    [{ pathPrefix: '/ratings' }, {}, false],
    [{ authority: 'reviews.default' }, {}, true],
    [{ authority: 'REVIEWS.default:9080' }, {}, true],
    [{ authority: 'reviews.default:80' }, {}, false],
    [{ authority: 'reviews' }, {}, false],
    [{ method: 'GET', pathPrefix: '/reviews/1' }, { method: 'GET' }, true],
  ];
  for (const [filter, o, expected] of cases) {
    const tap = tapped(t);
    tap.start({ filter });
    tapLayer({ tap: tap.hub, direction: 'inbound', meshTls: undefined })!(bottom)(request(o), null, handler);
    assert.equal(tap.events().length, expected ? 3 : 0, JSON.stringify(filter));
    tap.hub.stopAll();
  }
});

test('events: request line and identities, status and latency, end; credentials redacted', (t) => {
  const tap = tapped(t);
  tap.start({ id: 'plain', filter: {} });
  tap.start({ id: 'with-headers', filter: {}, headers: true });
  const dispatch = tapLayer({ tap: tap.hub, direction: 'inbound', meshTls: undefined })!(bottom);
  dispatch(
    request({ headers: ['x-trellis-peer', 'workload=web-v1;namespace=default', 'cookie', 'a=b'] }),
    null,
    handler,
  );
  const plain = tap.batches.filter((b) => b.id === 'plain').flatMap((b) => b.events);
  assert.deepEqual(plain, []); // batched: nothing until a flush
  const all = tap.events();
  const byId = (id: string): TapEvent[] => tap.batches.filter((b) => b.id === id).flatMap((b) => b.events);
  const [req, rsp, end] = byId('plain');
  assert.equal(req?.type, 'req');
  if (req?.type !== 'req' || rsp?.type !== 'rsp' || end?.type !== 'end') throw new Error('req, rsp, end');
  assert.equal(all.length, 6);
  assert.equal(req.direction, 'inbound');
  assert.equal(req.method, 'GET');
  assert.equal(req.path, '/reviews/1?x=1');
  assert.equal(req.tls, true);
  assert.deepEqual(req.source, {
    address: '10.0.0.7',
    port: 51234,
    identity: 'spiffe://cluster.local/ns/default/sa/web',
    workload: 'web-v1',
    namespace: 'default',
  });
  assert.equal(req.headers, undefined, 'headers only when asked for');
  assert.equal(rsp.status, 200);
  assert.ok(rsp.latencyUs >= 0);
  assert.equal(end.status, 200);
  assert.equal(end.responseBytes, 5);
  assert.equal(end.requestBody, undefined);
  const [hreq, hrsp] = byId('with-headers');
  if (hreq?.type !== 'req' || hrsp?.type !== 'rsp') throw new Error('req, rsp');
  assert.equal(hreq.id, req.id, 'one request, one id, whatever the session');
  assert.deepEqual(hreq.headers, [
    ['x-trellis-peer', 'workload=web-v1;namespace=default'],
    ['cookie', REDACTED],
  ]);
  assert.deepEqual(hrsp.headers, [
    ['content-type', 'text/plain'],
    ['set-cookie', REDACTED],
  ]);
  dispatch(request(), null, handler);
  const again = tap.events().filter((e) => e.type === 'req');
  const last = again.at(-1);
  if (last?.type !== 'req') throw new Error('req');
  assert.deepEqual(last.headers, [
    ['user-agent', 'test'],
    ['authorization', REDACTED],
    ['cookie', REDACTED],
  ]);
});

test('rate limit: a token bucket per session; requests past it are dropped and counted', (t) => {
  let clock = 0;
  const tap = tapped(t, () => clock);
  tap.start({ id: 'slow', filter: {}, maxRps: 5 });
  tap.start({ id: 'fast', filter: {}, maxRps: 1000 });
  const dispatch = tapLayer({ tap: tap.hub, direction: 'inbound', meshTls: undefined })!(bottom);
  for (let i = 0; i < 20; i++) dispatch(request(), null, handler);
  const reqs = (id: string): number =>
    tap.batches.filter((b) => b.id === id).flatMap((b) => b.events.filter((e) => e.type === 'req')).length;
  const dropped = (id: string): number =>
    tap.batches.filter((b) => b.id === id).reduce((n, b) => n + b.dropped, 0);
  tap.events();
  assert.equal(reqs('slow'), 5, 'a burst of one second at 5 rps');
  assert.equal(dropped('slow'), 15);
  assert.equal(reqs('fast'), 20);
  assert.equal(dropped('fast'), 0);
  // One second later the bucket is full again (5 tokens, not more).
  clock += 1000;
  for (let i = 0; i < 10; i++) dispatch(request(), null, handler);
  tap.events();
  assert.equal(reqs('slow'), 10);
  assert.equal(dropped('slow'), 20);
});

test('events of requests in flight when a session stops are discarded', (t) => {
  const tap = tapped(t);
  tap.start({ filter: {} });
  let pending: ResponseHandler | undefined;
  const later: Dispatch = (_req, _body, h) => {
    pending = h;
    return noop;
  };
  tapLayer({ tap: tap.hub, direction: 'outbound', meshTls: undefined })!(later)(request(), null, handler);
  assert.equal(tap.events().length, 1, 'the req event');
  tap.hub.stop('tap-1');
  pending!.onResponseStart(200, [], CONTROLLER);
  pending!.onResponseEnd(null);
  assert.equal(tap.events().length, 1);
  assert.equal(tap.hub.active, false);
});

// --- through a real proxy: the attempt layer, bodies, `--to`, reloads ---

interface Echo {
  port: number;
  /** sha256 of each request body the upstream received. */
  digests: string[];
}

/** Answers every request with `size` bytes of 'r' and a set-cookie; remembers what it was sent. */
async function startUpstream(t: TestContext, size: number): Promise<Echo> {
  const digests: string[] = [];
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (c: Buffer) => hash.update(c));
    req.on('end', () => {
      digests.push(hash.digest('hex'));
      res.writeHead(201, { 'set-cookie': 'sid=1', 'content-length': size });
      res.end(Buffer.alloc(size, 'r'));
    });
  });
  await listen(server);
  t.after(
    () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  );
  return { port: portOf(server), digests };
}

function config(upstreamPort: number, service: { name: string; namespace: string }): ProxyConfigInput {
  return {
    version: 'tap-1',
    listeners: [{ name: 'out', direction: 'outbound', port: 0, routeTable: 'rt', protocol: 'http1' }],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          { name: 'all', domains: ['*'], routes: [{ name: 'r', backends: [{ cluster: 'c' }] }] },
        ],
      },
    ],
    clusters: [
      {
        name: 'c',
        service,
        endpoints: [{ address: '127.0.0.1', port: upstreamPort, labels: { app: 'reviews', version: 'v2' } }],
      },
    ],
  };
}

async function startProxy(t: TestContext, cfg: ProxyConfigInput): Promise<ProxyServer> {
  const server = new ProxyServer(
    ProxyConfig.parse(cfg),
    new ProxyStats(new Registry(), { defaultMetrics: false }),
  );
  await server.start();
  t.after(() => server.drain(100));
  t.after(() => server.tap.stopAll());
  return server;
}

test('bodies: exactly the first N bytes of each, the bodies themselves unchanged', async (t) => {
  const up = await startUpstream(t, 5000);
  const proxy = await startProxy(t, config(up.port, { name: 'reviews', namespace: 'default' }));
  const batches: TapBatch[] = [];
  const session = proxy.tap.start({ id: 'b', filter: {}, bodyBytes: 100, headers: true }, (b) => {
    batches.push(b);
    return true;
  });
  const body = Buffer.alloc(10_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
  const res = await httpRequest({
    port: proxy.ports().out!,
    method: 'POST',
    path: '/upload',
    headers: { host: 'reviews', authorization: 'Basic eA==' },
    body,
  });
  assert.equal(res.status, 201);
  assert.equal(res.body.length, 5000);
  assert.deepEqual(up.digests, [createHash('sha256').update(body).digest('hex')]);
  await eventually(() => (session.flush(), batches.flatMap((b) => b.events).some((e) => e.type === 'end')));
  const events = batches.flatMap((b) => b.events);
  const req = events.find((e) => e.type === 'req');
  const end = events.find((e) => e.type === 'end');
  if (req?.type !== 'req' || end?.type !== 'end') throw new Error('req and end');
  assert.equal(req.route, 'r');
  assert.deepEqual(req.destination, {
    service: 'reviews.default',
    address: '127.0.0.1',
    port: up.port,
    workload: 'reviews-v2',
  });
  assert.equal(req.tls, false);
  assert.ok(req.headers?.some(([k, v]) => k === 'authorization' && v === REDACTED));
  assert.equal(end.requestBytes, 10_000);
  assert.equal(end.responseBytes, 5000);
  const reqPrefix = Buffer.from(end.requestBody!.base64, 'base64');
  assert.equal(reqPrefix.length, 100);
  assert.deepEqual(reqPrefix, body.subarray(0, 100));
  assert.equal(end.requestBody!.truncated, true);
  assert.deepEqual(Buffer.from(end.responseBody!.base64, 'base64'), Buffer.alloc(100, 'r'));
  assert.equal(end.responseBody!.truncated, true);
});

test('--to: only requests whose cluster is that service; the session survives a reload', async (t) => {
  const up = await startUpstream(t, 10);
  const proxy = await startProxy(t, config(up.port, { name: 'reviews', namespace: 'default' }));
  const events = (id: string, batches: TapBatch[]): TapEvent[] =>
    batches.filter((b) => b.id === id).flatMap((b) => b.events);
  const batches: TapBatch[] = [];
  const sink = (b: TapBatch): boolean => (batches.push(b), true);
  const toReviews = proxy.tap.start(
    { id: 'reviews', filter: { direction: 'outbound', to: 'reviews.default' } },
    sink,
  );
  const toRatings = proxy.tap.start(
    { id: 'ratings', filter: { direction: 'outbound', to: 'ratings.default' } },
    sink,
  );
  const port = proxy.ports().out!;
  assert.equal((await httpRequest({ port, headers: { host: 'reviews' } })).status, 201);
  await eventually(() => (toReviews.flush(), events('reviews', batches).length === 3));
  toRatings.flush();
  assert.deepEqual(events('ratings', batches), []);

  // A reload swaps the stacks; the hub (and its sessions) stay.
  await proxy.reload(
    ProxyConfig.parse({ ...config(up.port, { name: 'ratings', namespace: 'default' }), version: 'tap-2' }),
  );
  assert.equal((await httpRequest({ port, headers: { host: 'ratings' } })).status, 201);
  await eventually(() => (toRatings.flush(), events('ratings', batches).length === 3));
  toReviews.flush();
  assert.equal(events('reviews', batches).length, 3);
});

test('captured headers are bounded: 4 KiB a value, 16 KiB in all', () => {
  const big: string[] = [];
  for (let i = 0; i < 50; i++) big.push(`x-h${i}`, 'v'.repeat(10_000));
  const captured = captureHeaders(big);
  assert.ok(captured.every(([, v]) => v.length === 4096));
  assert.equal(captured.length, 3);
  assert.ok(TapHeaders.safeParse(captured).success);
});
