// The sidecar's stats reports: only cells that changed, labels once per stream, values cumulative
// over the stream from what earlier streams were told, resets, the size cap taken in turns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { ClientMessage } from '../control/protocol.ts';
import type { StatsMessage } from '../control/stats/message.ts';
import { EdgeStats, GRPC_NONE } from '../metrics/edge-stats.ts';
import { StatsReporter } from './stats-reporter.ts';

function setup(maxEntries?: number) {
  const registry = new Registry();
  const edge = new EdgeStats(registry);
  const route = edge.route('destination', edge.party({ destination_workload: 'reviews-v1' }), 'inbound');
  const peer = edge.party({ source_workload: 'web-v1', mtls: 'true' });
  const reporter = new StatsReporter(edge, maxEntries === undefined ? {} : { maxEntries });
  const record = (status: number, latencyMs = 0.7): void =>
    edge.record(route, peer, status, GRPC_NONE, latencyMs, 0, 0);
  return { registry, edge, reporter, record };
}

/** What the control plane would receive: the message must pass the stream's schema. */
function parsed(msg: StatsMessage | undefined): StatsMessage {
  assert.ok(msg !== undefined, 'a report');
  const m = ClientMessage.parse(JSON.parse(JSON.stringify(msg)));
  assert.equal(m.type, 'stats');
  return m as StatsMessage;
}

test('only what changed, labels once, cumulative values', () => {
  const { reporter, record } = setup();
  record(200);
  record(200, 7);
  record(500);
  const first = parsed(reporter.collect());
  assert.deepEqual(
    first.requests?.map((e) => [e.id, e.labels?.response_code, e.count, e.latency[3], e.latency[6]]),
    [
      [0, '200', 2, 1, 1],
      [1, '500', 1, 1, 0],
    ],
  );
  assert.equal(first.requests?.[0]?.labels?.source_workload, 'web-v1');
  assert.equal(first.requests?.[0]?.latencySumMs, 7.7);
  assert.equal(reporter.collect(), undefined, 'nothing changed');
  record(200);
  const second = parsed(reporter.collect());
  assert.deepEqual(
    second.requests?.map((e) => [e.id, e.labels, e.count]),
    [[0, undefined, 3]],
  );
});

test('a new stream: labels again, values counted from what was reported before', () => {
  const { reporter, record } = setup();
  const sent: StatsMessage[] = [];
  const sink = { send: (m: StatsMessage) => void sent.push(m), buffered: () => 0 };
  record(200);
  record(200);
  reporter.start(3_600_000, sink);
  reporter.flush();
  record(200); // made while the stream was down
  reporter.stop();
  reporter.flush(); // no stream: nothing sent, nothing marked as reported
  reporter.start(3_600_000, sink);
  reporter.flush();
  reporter.stop();
  assert.deepEqual(
    sent.map((m) => m.requests?.map((e) => [e.id, e.labels !== undefined, e.count])),
    [[[0, true, 2]], [[0, true, 1]]],
  );
});

test('a reset cell starts again from zero', () => {
  const { registry, reporter, record } = setup();
  for (let i = 0; i < 5; i++) record(200);
  parsed(reporter.collect());
  registry.resetMetrics();
  record(200);
  assert.deepEqual(
    parsed(reporter.collect()).requests?.map((e) => e.count),
    [1],
  );
});

test('past the cap the rest waits for the next report, in turns', () => {
  const { reporter, record } = setup(2);
  for (const status of [200, 201, 202, 203, 204]) record(status);
  const ids = (): number[] | undefined => reporter.collect()?.requests?.map((e) => e.id);
  assert.deepEqual(ids(), [0, 1]);
  assert.deepEqual(ids(), [2, 3]);
  assert.deepEqual(ids(), [4]);
  assert.deepEqual(ids(), undefined);
  record(200);
  record(204);
  assert.deepEqual(ids(), [4, 0], 'the next report starts where the last one stopped');
});

test('TCP series: counters and the open gauge', () => {
  const { edge, reporter } = setup();
  const s = edge.tcp(
    'destination',
    edge.party({ destination_workload: 'db-v1' }),
    edge.party({ mtls: 'true' }),
  );
  s.opened += 3;
  s.closed += 1;
  s.receivedBytes += 10;
  s.sentBytes += 20;
  const msg = parsed(reporter.collect());
  assert.equal(msg.requests, undefined);
  assert.deepEqual(
    msg.tcp?.map(({ labels: _labels, ...rest }) => rest),
    [{ id: 0, opened: 3, closed: 1, receivedBytes: 10, sentBytes: 20, open: 2 }],
  );
  assert.equal(reporter.collect(), undefined);
  s.closed++;
  assert.deepEqual(
    parsed(reporter.collect()).tcp?.map((e) => [e.closed, e.open]),
    [[2, 1]],
  );
});

test('ejected endpoints: only once asked, only when they change, none any more as an empty list', () => {
  const registry = new Registry();
  let ejected: { cluster: string; address: string; port: number; remainingMs: number }[] = [];
  const reporter = new StatsReporter(new EdgeStats(registry), { ejections: () => ejected });
  const sink = { send: () => {}, buffered: () => 0 };
  const reviews = { cluster: 'outbound|reviews.default', address: '127.0.0.1', port: 15006 };
  ejected = [{ ...reviews, remainingMs: 30_000 }];
  reporter.start(3_600_000, sink);
  assert.equal(reporter.collect(), undefined, 'a control plane that did not ask hears nothing of them');
  reporter.reportEjections();
  const before = Date.now();
  const first = parsed(reporter.collect());
  assert.equal(first.requests, undefined);
  assert.deepEqual(
    first.ejected?.map(({ untilMs: _, ...e }) => e),
    [reviews],
  );
  const until = first.ejected?.[0]?.untilMs ?? 0;
  assert.ok(until >= before + 30_000 && until <= Date.now() + 30_000);
  ejected = [{ ...reviews, remainingMs: 29_990 }]; // the same ejection, read later
  assert.equal(reporter.collect(), undefined, 'unchanged');
  ejected = [];
  assert.deepEqual(parsed(reporter.collect()).ejected, [], 'none any more');
  assert.equal(reporter.collect(), undefined);

  // A new stream knows of nothing and must ask again.
  ejected = [{ ...reviews, remainingMs: 1000 }];
  reporter.start(3_600_000, sink);
  assert.equal(reporter.collect(), undefined);
  reporter.reportEjections();
  assert.equal(parsed(reporter.collect()).ejected?.length, 1);
  // Past the message's bounds, the first ones go (a longer list would close the stream).
  ejected = Array.from({ length: 300 }, (_, i) => ({ ...reviews, port: 20_000 + i, remainingMs: 1000 }));
  assert.equal(parsed(reporter.collect()).ejected?.length, 256);
  reporter.stop();
});
