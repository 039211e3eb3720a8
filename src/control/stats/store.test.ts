// The stats store against known reports on a fake clock: cumulative values become per-bucket
// deltas, resets and new streams start new baselines, windows cover whole buckets, old buckets and
// the series only they named age out, and a proxy speaks only for its own namespace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { statByResource } from './query.ts';
import { isFailure, StatsStore, type ReportingProxy } from './store.ts';
import { edgeLabels, requestEntry, tcpEntry } from './testing.ts';

const T0 = 1_700_000_000_000; // a multiple of 10 s: the first bucket starts here
const REVIEWS: ReportingProxy = { name: 'reviews-v1-abc', namespace: 'default', service: 'reviews' };

function clocked(): { store: StatsStore; advance: (ms: number) => void } {
  let now = T0;
  const store = new StatsStore({ now: () => now });
  return { store, advance: (ms) => void (now += ms) };
}

const reviewsStats = (store: StatsStore, windowMs: number) => {
  const data = store.window(windowMs);
  const covered = (data.toMs - data.fromMs) / 1000;
  return statByResource(data, 'services').get('default/reviews')?.golden(covered);
};

test('cumulative reports become deltas; counts, success rate, rps and latency are exact', () => {
  const { store, advance } = clocked();
  const stream = {};
  const ok = edgeLabels('destination');
  const failed = edgeLabels('destination', { response_code: '500' });
  store.ingest(stream, REVIEWS, {
    type: 'stats',
    requests: [requestEntry(0, { 3: 3 }, ok), requestEntry(1, { 6: 1 }, failed)],
  });
  advance(5000);
  // Cell 0 again (5 so far), by number alone; cell 1 unchanged and not sent.
  store.ingest(stream, REVIEWS, { type: 'stats', requests: [requestEntry(0, { 3: 5 })] });
  store.ingest(stream, REVIEWS, { type: 'stats', requests: [requestEntry(0, { 3: 5 })] }); // a repeat adds nothing
  const g = reviewsStats(store, 60_000);
  assert.ok(g);
  assert.equal(g.successCount, 5);
  assert.equal(g.failureCount, 1);
  assert.equal(g.successRate, 5 / 6);
  assert.equal(g.rps, 1.2); // 6 requests over the 5 s the store has existed
  // Five in (0.5, 1] ms, one in (5, 10] ms: p50 at rank 3 of 6 → 0.5 + 0.5 × 3/5; p90 at rank 5.4,
  // past the first five → 5 + 5 × 0.4/1; p95 at 5.7 → 8.5; p99 at 5.94 → 9.7.
  assert.deepEqual(g.latencyMs, { p50: 0.8, p90: 7, p95: 8.5, p99: 9.7 });
});

test('a lower value is a reset and a new stream a new baseline: both count in full', () => {
  const { store, advance } = clocked();
  const a = {};
  store.ingest(a, REVIEWS, {
    type: 'stats',
    requests: [requestEntry(0, { 3: 10 }, edgeLabels('destination'))],
  });
  advance(1000);
  store.ingest(a, REVIEWS, { type: 'stats', requests: [requestEntry(0, { 3: 4 })] }); // reset: +4
  store.endStream(a);
  const b = {}; // the proxy reconnected: its values start from zero again
  store.ingest(b, REVIEWS, {
    type: 'stats',
    requests: [requestEntry(0, { 3: 2 }, edgeLabels('destination'))],
  });
  assert.equal(reviewsStats(store, 60_000)?.successCount, 16);
  // A number the stream never labelled cannot be filed.
  store.ingest(b, REVIEWS, { type: 'stats', requests: [requestEntry(7, { 3: 1 })] });
  assert.equal(store.dropped, 1);
  assert.equal(reviewsStats(store, 60_000)?.successCount, 16);
});

test('windows cover whole buckets; buckets and the series only they name age out', () => {
  const { store, advance } = clocked();
  const s = {};
  store.ingest(s, REVIEWS, {
    type: 'stats',
    requests: [requestEntry(0, { 3: 10 }, edgeLabels('destination'))],
  });
  advance(30_000);
  store.ingest(s, REVIEWS, { type: 'stats', requests: [requestEntry(0, { 3: 15 })] });
  assert.equal(reviewsStats(store, 10_000)?.successCount, 5, 'the current bucket only');
  assert.equal(reviewsStats(store, 60_000)?.successCount, 15);
  const data = store.window(10_000);
  assert.equal(data.toMs - data.fromMs, 10_000, 'from the start of the bucket that holds now − 10 s');

  store.endStream(s);
  advance(15 * 60_000 - 10_000); // now = T0 + 15m20s: the T0 bucket is past the retention
  assert.equal(reviewsStats(store, 15 * 60_000)?.successCount, 5);
  assert.equal(store.seriesCount, 1);
  advance(30_000);
  assert.equal(reviewsStats(store, 15 * 60_000), undefined);
  assert.equal(store.seriesCount, 0, 'no bucket and no stream names the series any more');
});

test('buckets: one per period of the window, empty ones too, summing to the window', () => {
  const { store, advance } = clocked();
  const s = {};
  const labels = edgeLabels('destination');
  advance(2000);
  store.ingest(s, REVIEWS, { type: 'stats', requests: [requestEntry(0, { 3: 4 }, labels)] });
  advance(20_000); // T0 + 22 s: the T0 + 10 s bucket stays empty
  store.ingest(s, REVIEWS, {
    type: 'stats',
    requests: [requestEntry(0, { 3: 10 })],
    tcp: [tcpEntry(1, { opened: 2, closed: 1, receivedBytes: 5, sentBytes: 6 }, labels)],
  });
  const buckets = store.buckets(30_000);
  // now − 30 s falls in the T0 − 10 s bucket, before the store started (at T0): nothing is known of
  // it, so the periods start at T0 and go up to the current one.
  assert.deepEqual(
    buckets.map((b) => b.startMs - T0),
    [0, 10_000, 20_000],
  );
  const count = (b: (typeof buckets)[number]): number | undefined =>
    statByResource(b, 'services').get('default/reviews')?.success;
  assert.deepEqual(buckets.map(count), [4, undefined, 6]);
  assert.deepEqual(
    buckets.map((b) => [b.fromMs - T0, b.toMs - T0]),
    [
      [0, 10_000],
      [10_000, 20_000],
      [20_000, 22_000], // the current bucket ends now
    ],
  );
  assert.deepEqual(
    buckets.map((b) => b.open.size),
    [0, 0, 1],
    'open connections are a gauge of now',
  );
  const whole = statByResource(store.window(30_000), 'services').get('default/reviews');
  assert.equal(whole?.success, 10, 'the buckets add up to the window');
});

test('TCP: bytes per window, open connections while the stream lasts', () => {
  const { store, advance } = clocked();
  const s = {};
  const labels = edgeLabels('destination');
  store.ingest(s, REVIEWS, {
    type: 'stats',
    tcp: [tcpEntry(0, { opened: 3, closed: 1, receivedBytes: 100, sentBytes: 2000 }, labels)],
  });
  advance(10_000);
  const g = reviewsStats(store, 60_000);
  assert.equal(g?.tcp?.openConnections, 2);
  assert.equal(g?.tcp?.receivedBytes, 100);
  assert.equal(g?.tcp?.writeBytesPerSec, 200);
  assert.equal(g?.successRate, null, 'no requests');
  store.endStream(s);
  assert.equal(reviewsStats(store, 60_000)?.tcp?.openConnections, 0);
  assert.equal(reviewsStats(store, 60_000)?.tcp?.sentBytes, 2000);
});

test("a proxy's own namespace and service come from its registration, not its report", () => {
  const { store } = clocked();
  store.ingest({}, REVIEWS, {
    type: 'stats',
    requests: [
      requestEntry(
        0,
        { 3: 1 },
        edgeLabels('destination', {
          destination_namespace: 'payments',
          destination_service: 'ledger.payments',
        }),
      ),
    ],
  });
  const byService = statByResource(store.window(60_000), 'services');
  assert.deepEqual([...byService.keys()], ['default/reviews']);
});

test('failures as Linkerd classifies them', () => {
  assert.equal(isFailure('500', ''), true);
  assert.equal(isFailure('503', ''), true);
  assert.equal(isFailure('0', ''), true, 'no response');
  assert.equal(isFailure('404', ''), false);
  assert.equal(isFailure('200', ''), false);
  assert.equal(isFailure('200', '0'), false);
  assert.equal(isFailure('200', '14'), true);
  assert.equal(isFailure('500', '0'), false, 'gRPC status decides when there is one');
  assert.equal(isFailure('200', 'unknown'), true, 'a gRPC call that ended without a status');
  assert.equal(isFailure('unknown', 'unknown'), false, 'folded by the series cap: nothing known');
});
