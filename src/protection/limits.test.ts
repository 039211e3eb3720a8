// Connection-pool limits (Istio's connectionPool) against real upstreams that hold their answers
// until the test releases them, so "at once" is shown by order: the refused request is answered
// while the admitted ones are still waiting upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { listen, portOf } from '../../test/support/sockets.ts';
import { testRequest } from '../proxy/testing.ts';
import {
  clusterInput,
  directCluster,
  get,
  sendSequentially,
  startProxy,
  startUpstream,
  waitFor,
  headerOf,
} from './test-support.ts';

test('maxConcurrentRequests 2: the 3rd concurrent request gets 503 + x-trellis-overloaded at once', async (t) => {
  const up = await startUpstream('slow');
  t.after(() => up.close());
  up.hold = true;
  const proxy = await startProxy(clusterInput([up], { limits: { maxConcurrentRequests: 2 } }));
  t.after(() => proxy.close());
  const first = get(proxy.port, '/1');
  const second = get(proxy.port, '/2');
  await waitFor(() => up.held() === 2, 'two requests held upstream');
  const third = await get(proxy.port, '/3');
  assert.equal(third.status, 503);
  assert.equal(third.headers['x-trellis-overloaded'], 'true');
  assert.equal(third.headers['x-trellis-error'], 'TRELLIS_OVERFLOW');
  assert.equal(up.held(), 2, 'answered while the first two were still waiting upstream');
  assert.equal(up.requests, 2, 'the refused request never reached the upstream');
  up.hold = false;
  up.release();
  assert.deepEqual([(await first).status, (await second).status], [200, 200]);
  assert.equal((await get(proxy.port, '/4')).status, 200, 'the slots are free again');
});

test('HTTP/2 clients get the overflow header too', async (t) => {
  const up = await startUpstream('slow');
  t.after(() => up.close());
  up.hold = true;
  const proxy = await startProxy(clusterInput([up], { limits: { maxConcurrentRequests: 1 } }));
  t.after(() => proxy.close());
  const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
  t.after(() => session.destroy());
  const ask = (path: string): Promise<http2.IncomingHttpHeaders> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': path, ':authority': 'svc.test' });
      s.on('response', (h) => {
        s.resume();
        resolve(h);
      });
      s.on('error', reject);
      s.end();
    });
  const held = ask('/held');
  await waitFor(() => up.held() === 1, 'one request held upstream');
  const refused = await ask('/refused');
  assert.equal(refused[':status'], 503);
  assert.equal(refused['x-trellis-overloaded'], 'true');
  up.hold = false;
  up.release();
  assert.equal((await held)[':status'], 200);
});

test('maxConnections 1 + maxPendingRequests 1: one request waits, the 3rd overflows', async (t) => {
  const up = await startUpstream('one');
  t.after(() => up.close());
  up.hold = true;
  const d = directCluster(clusterInput([up], { limits: { maxConnections: 1, maxPendingRequests: 1 } }));
  t.after(() => d.close());
  const first = d.send('/1');
  await waitFor(() => up.held() === 1, 'the first request upstream');
  const second = d.send('/2'); // waits for the one connection
  const third = await d.send('/3');
  assert.equal(third.status, 503);
  assert.equal(third.code, 'TRELLIS_OVERFLOW');
  assert.equal(headerOf(third.headers, 'x-trellis-overloaded'), 'true');
  assert.equal(d.policy.overflow.series({ cluster: 'up', limit: 'maxPendingRequests' }).value, 1);
  assert.equal(up.requests, 1, 'the waiting request is not sent before a connection frees');
  up.release();
  assert.equal((await first).status, 200);
  await waitFor(() => up.held() === 1, 'the waiting request on the freed connection');
  up.release();
  assert.equal((await second).status, 200);
  assert.deepEqual(up.connections, [2], 'one connection carried both');
  assert.equal(d.cluster.gate.load.requests, 0);
});

test('maxConnections is per cluster: an idle connection to one endpoint gives way to another', async (t) => {
  const [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  t.after(() => Promise.all([a.close(), b.close()]).then(() => {}));
  a.hold = true;
  b.hold = true;
  const d = directCluster(clusterInput([a, b], { limits: { maxConnections: 1, maxPendingRequests: 5 } }));
  t.after(() => d.close());
  const firstReply = d.send('/1');
  const secondReply = d.send('/2'); // round robin: the other endpoint, but the cluster's one slot is taken
  await waitFor(() => a.held() + b.held() === 1, 'the first request upstream');
  const [first, second] = a.held() === 1 ? [a, b] : [b, a];
  assert.equal(second.connections.length, 0, 'the other endpoint waits: the cluster has one connection');
  first.release();
  assert.equal((await firstReply).upstream, first.name);
  await waitFor(
    () => second.held() === 1,
    'the second request once the first endpoint gave its connection up',
  );
  second.release();
  assert.equal((await secondReply).upstream, second.name);
  // Idle connections elsewhere never starve an endpoint: alternate a few more times.
  a.hold = false;
  b.hold = false;
  const more = await sendSequentially(d, 6);
  assert.ok(more.every((r) => r.status === 200));
  for (let i = 1; i < more.length; i++) assert.notEqual(more[i]!.upstream, more[i - 1]!.upstream);
  assert.ok(a.connections.length + b.connections.length >= 7, 'each switch reconnected');
});

test('a waiting request cancelled by its client leaves the queue', async (t) => {
  const up = await startUpstream('one');
  t.after(() => up.close());
  up.hold = true;
  const d = directCluster(clusterInput([up], { limits: { maxConnections: 1, maxPendingRequests: 1 } }));
  t.after(() => d.close());
  const first = d.send('/1');
  await waitFor(() => up.held() === 1, 'the first request upstream');
  const cancel = d.cluster.dispatch(testRequest({ path: '/cancelled' }), null, {
    onResponseStart: () => assert.fail('cancelled'),
    onResponseData: () => true,
    onResponseEnd: () => {},
    onResponseError: () => {},
  });
  cancel();
  const next = d.send('/3'); // the queue has room again
  up.release();
  assert.equal((await first).status, 200);
  await waitFor(() => up.held() === 1, 'the queued request');
  up.release();
  assert.equal((await next).status, 200);
  assert.equal(up.requests, 2, 'the cancelled request was never sent');
  assert.equal(d.cluster.gate.load.requests, 0);
});

test('maxRequestsPerConnection 2: the upstream sees a new connection every 2 requests', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  const d = directCluster(clusterInput([up], { limits: { maxRequestsPerConnection: 2 } }));
  t.after(() => d.close());
  const answers = await sendSequentially(d, 6);
  assert.ok(answers.every((a) => a.status === 200));
  assert.deepEqual(up.connections, [2, 2, 2]);
});

test('maxRequestsPerConnection 2 over HTTP/2: a new session every 2 streams', async (t) => {
  const sessions: number[] = [];
  const server = http2.createServer();
  server.on('session', (s) => {
    const index = sessions.push(0) - 1;
    s.on('stream', (stream) => {
      sessions[index]!++;
      stream.respond({ ':status': 200, 'x-upstream': 'h2' });
      stream.end('ok');
    });
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await listen(server);
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const d = directCluster({
    ...clusterInput([{ port: portOf(server) }], { limits: { maxRequestsPerConnection: 2 } }),
    protocol: 'http2',
  });
  t.after(() => d.close());
  const answers = await sendSequentially(d, 5);
  assert.ok(answers.every((a) => a.status === 200));
  assert.deepEqual(sessions, [2, 2, 1]);
});

test('maxConcurrentRetries: tryStartRetry refuses past the limit and counts it', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  const d = directCluster(clusterInput([up], { limits: { maxConcurrentRetries: 1 } }));
  t.after(() => d.close());
  assert.equal(d.cluster.tryStartRetry(), true);
  assert.equal(d.cluster.tryStartRetry(), false);
  assert.equal(d.policy.overflow.series({ cluster: 'up', limit: 'maxConcurrentRetries' }).value, 1);
  d.cluster.endRetry();
  assert.equal(d.cluster.tryStartRetry(), true);
  d.cluster.endRetry();
  // Without the limit every retry may start.
  const free = directCluster({ ...clusterInput([up]), name: 'free' });
  t.after(() => free.close());
  for (let i = 0; i < 5; i++) assert.equal(free.cluster.tryStartRetry(), true);
});

test('overflow counts by limit, and in-flight counts survive a reload', async (t) => {
  const up = await startUpstream('slow');
  t.after(() => up.close());
  up.hold = true;
  const input = clusterInput([up], { limits: { maxConcurrentRequests: 1 } });
  const d = directCluster(input);
  t.after(() => d.close());
  const first = d.send();
  await waitFor(() => up.held() === 1, 'one request upstream');
  // A reload builds a new runtime; the request the old one admitted still counts.
  d.reload({ ...input, connectTimeout: 2000 });
  const refused = await d.send();
  assert.equal(refused.code, 'TRELLIS_OVERFLOW');
  assert.equal(d.policy.overflow.series({ cluster: 'up', limit: 'maxConcurrentRequests' }).value, 1);
  up.hold = false;
  up.release();
  assert.equal((await first).status, 200);
  assert.equal((await d.send()).status, 200);
});
