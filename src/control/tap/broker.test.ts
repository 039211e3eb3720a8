// The tap broker behind `POST /api/v1/tap`, with proxies speaking the push protocol by hand: admin
// only, unknown targets and bad input refused before anything starts, tap-start to the target's
// proxies (and to those that join while it runs), their events relayed with ids and the proxy
// named, drops noted, and tap-stop when the caller leaves, the duration ends or the cap is reached.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TapEvent, TapLine } from '../../tap/event.ts';
import type { ServerMessage } from '../protocol.ts';
import { api, registration, serviceYaml, startTestControlPlane, StreamClient, waitFor } from '../testing.ts';
import { openTap } from './testing.ts';

type Start = Extract<ServerMessage, { type: 'tap-start' }>;
const isStart = (m: ServerMessage): m is Start => m.type === 'tap-start';
const isStarted = (l: TapLine): l is Extract<TapLine, { type: 'started' }> => l.type === 'started';

function event(id: number): TapEvent[] {
  return [
    {
      type: 'req',
      id,
      time: Date.now(),
      direction: 'inbound',
      source: { address: '127.0.0.1', port: 5000, identity: 'spiffe://cluster.local/ns/default/sa/web' },
      destination: { identity: 'spiffe://cluster.local/ns/default/sa/reviews' },
      tls: true,
      method: 'GET',
      scheme: 'http',
      authority: 'reviews:9080',
      path: '/r',
      protocol: 'http1',
      grpc: false,
    },
    { type: 'rsp', id, status: 200, latencyUs: 1500 },
    { type: 'end', id, status: 200, durationUs: 1700, requestBytes: 0, responseBytes: 12 },
  ];
}

test('tap: admin only; unknown targets, bad input and unknown --to services are refused first', async (t) => {
  const cp = await startTestControlPlane(t);
  await api(cp.url, 'POST', '/api/v1/apply', serviceYaml('reviews'));
  const target = { kind: 'service', namespace: 'default', name: 'reviews' };

  const reader = await openTap(t, cp.url, { target }, cp.readerToken);
  assert.equal(reader.status, 403);
  assert.equal(reader.error?.code, 'TRELLIS_FORBIDDEN');
  const anonymous = await openTap(t, cp.url, { target }, null);
  assert.equal(anonymous.status, 401);

  const unknown = await openTap(t, cp.url, { target: { ...target, name: 'nope' } }, cp.adminToken);
  assert.equal(unknown.status, 404);
  assert.equal(unknown.error?.code, 'TRELLIS_NOT_FOUND');
  assert.match(unknown.error?.message ?? '', /service nope\.default/);
  const noWorkload = await openTap(t, cp.url, { target: { kind: 'workload', name: 'x-1' } }, cp.adminToken);
  assert.equal(noWorkload.status, 404);
  const badTo = await openTap(t, cp.url, { target, filter: { to: 'ghost' } }, cp.adminToken);
  assert.equal(badTo.status, 404);
  assert.match(badTo.error?.message ?? '', /ghost\.default \(--to\)/);

  for (const body of [
    { target: { kind: 'deployment', name: 'reviews' } },
    { target, maxRps: 5000 },
    { target, bodyBytes: -1 },
    { target, filter: { method: 'get' } },
    { target, filter: { to: 'reviews', direction: 'inbound' } },
    { target, duration: 'forever' },
    { target, surprise: true },
  ]) {
    const res = await openTap(t, cp.url, body, cp.adminToken);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(res.error?.code, 'TRELLIS_BAD_REQUEST');
  }
});

test('tap: the target proxies (and those that join) are tapped; events relayed; stop on leave', async (t) => {
  const cp = await startTestControlPlane(t);
  const r1 = await StreamClient.connect(t, cp.url);
  await r1.register(registration('reviews-1', { service: 'reviews' }));
  const other = await StreamClient.connect(t, cp.url);
  await other.register(registration('ratings-1', { service: 'ratings' }));

  const tap = await openTap(
    t,
    cp.url,
    { target: { kind: 'service', name: 'reviews' }, filter: { pathPrefix: '/r' }, maxRps: 10, headers: true },
    cp.adminToken,
  );
  assert.equal(tap.status, 200);
  const started = await tap.waitLine('started', isStarted);
  assert.equal(started.proxies, 1);
  assert.equal(started.direction, 'inbound');
  const start = (await r1.waitMessage('tap-start', isStart)) as Start;
  assert.deepEqual(start.filter, { pathPrefix: '/r', direction: 'inbound' });
  assert.equal(start.maxRps, 10);
  assert.equal(start.headers, true);
  assert.equal(start.id, started.id);

  // A proxy of the service that connects now is tapped too.
  const r2 = await StreamClient.connect(t, cp.url);
  await r2.register(registration('reviews-2', { service: 'reviews' }));
  await r2.waitMessage('tap-start on the late proxy', isStart);

  // A malformed event costs that event (counted), never the proxy's stream.
  r1.send({ type: 'tap-events', id: start.id, events: [...event(7), { type: 'req', id: -1 }], dropped: 3 });
  r2.send({ type: 'tap-events', id: start.id, events: event(7), dropped: 0 });
  // A proxy the session never started on cannot inject events into it.
  other.send({ type: 'tap-events', id: start.id, events: event(9), dropped: 0 });
  const ends = await waitFor('both ends', () => {
    const e = tap.lines.filter((l) => l.type === 'end');
    return e.length === 2 && e;
  });
  assert.deepEqual(ends.map((e) => `${e.id} ${e.proxy.name}`).sort(), ['0:7 reviews-1', '1:7 reviews-2']);
  const req = tap.lines.find((l) => l.type === 'req' && l.proxy.name === 'reviews-1');
  assert.ok(req?.type === 'req');
  // The proxy's own side completed by the control plane: the workload as metrics name it.
  assert.deepEqual(req.destination, {
    identity: 'spiffe://cluster.local/ns/default/sa/reviews',
    workload: 'reviews-v1',
    namespace: 'default',
  });
  const dropped = await tap.waitLine(
    'dropped note',
    (l): l is Extract<TapLine, { type: 'dropped' }> => l.type === 'dropped',
  );
  assert.deepEqual(dropped, { type: 'dropped', requests: 3, events: 1 });
  assert.equal(tap.lines.filter((l) => l.type === 'req').length, 2);
  assert.equal(other.messages.some(isStart), false, 'ratings is not tapped');

  // The caller leaves: every proxy of the session is told to stop.
  tap.close();
  await r1.waitMessage('tap-stop', (m) => m.type === 'tap-stop' && m.id === start.id);
  await r2.waitMessage('tap-stop', (m) => m.type === 'tap-stop' && m.id === start.id);
});

test('tap: --to taps the outbound side; a duration ends the stream; at most 16 sessions', async (t) => {
  const cp = await startTestControlPlane(t);
  await api(cp.url, 'POST', '/api/v1/apply', serviceYaml('reviews'));
  const web = await StreamClient.connect(t, cp.url);
  await web.register(registration('web-1', { service: 'web' }));
  const tap = await openTap(
    t,
    cp.url,
    { target: { kind: 'workload', name: 'web-1' }, filter: { to: 'reviews' }, duration: '300ms' },
    cp.adminToken,
  );
  assert.equal(tap.status, 200);
  const start = (await web.waitMessage('tap-start', isStart)) as Start;
  assert.deepEqual(start.filter, { direction: 'outbound', to: 'reviews.default' });
  await tap.ended;
  await web.waitMessage('tap-stop', (m) => m.type === 'tap-stop' && m.id === start.id);

  const sessions = [];
  for (let i = 0; i < 16; i++) {
    const s = await openTap(t, cp.url, { target: { kind: 'service', name: 'web' } }, cp.adminToken);
    assert.equal(s.status, 200);
    sessions.push(s);
  }
  const refused = await openTap(t, cp.url, { target: { kind: 'service', name: 'web' } }, cp.adminToken);
  assert.equal(refused.status, 429);
  assert.equal(refused.error?.code, 'TRELLIS_TAP_LIMIT');
  // One leaves: a place is free again.
  sessions[0]!.close();
  await waitFor('a free session', async () => {
    const s = await openTap(t, cp.url, { target: { kind: 'service', name: 'web' } }, cp.adminToken);
    s.close();
    return s.status === 200;
  });
});
