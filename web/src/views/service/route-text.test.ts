import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceRouteView } from '../../types.ts';
import {
  backendShares,
  duration,
  isSplit,
  matchesText,
  readable,
  retriesText,
  sharePercent,
  sourcesOf,
} from './route-text.ts';
import { settledPoints } from './series.ts';

const canary: ServiceRouteView = {
  name: 'canary',
  backends: [
    { service: 'reviews-v1', weight: 90 },
    { service: 'reviews-v2', weight: 10 },
  ],
  timeout: 3000,
};

test('matches read as phrases; no match is every request', () => {
  assert.equal(matchesText(undefined), 'every request');
  assert.equal(
    matchesText({ headers: [{ name: 'end-user', exact: 'jason', invert: false }], query: [] }),
    'header end-user = jason',
  );
  assert.equal(
    matchesText([
      { path: { prefix: '/api' }, methods: ['GET', 'HEAD'] },
      { headers: [{ name: 'x', present: true }] },
    ]),
    'path starts with /api, method GET or HEAD — or — header x present',
  );
});

test('weights become shares; a split has more than one weighted backend', () => {
  assert.deepEqual(
    backendShares(canary).map((b) => sharePercent(b.share)),
    ['90%', '10%'],
  );
  assert.equal(sharePercent(1 / 3), '33.3%');
  assert.equal(isSplit(canary), true);
  assert.equal(isSplit({ backends: [{ service: 'a', weight: 1 }] }), false);
  assert.equal(
    isSplit({
      backends: [
        { service: 'a', weight: 1 },
        { service: 'b', weight: 0 },
      ],
    }),
    false,
  );
});

test('durations and retries read in words', () => {
  assert.equal(duration(3000), '3 s');
  assert.equal(duration(250), '250 ms');
  assert.equal(duration(120_000), '2 min');
  assert.equal(
    retriesText({ attempts: 3, perTryTimeout: 500, retryOn: ['5xx'], retriableStatusCodes: [503] }),
    '3 retries on 5xx, 503, 500 ms per try',
  );
  assert.equal(retriesText({ attempts: 0 }), 'off');
  assert.equal(
    readable({ consecutive5xx: 5, interval: 10_000, backoff: { base: 25, max: 250 } }),
    '{consecutive5xx: 5, interval: 10 s, backoff: {base: 25 ms, max: 250 ms}}',
  );
});

test('the lowered-from annotation names the sources; without it a resource is its own', () => {
  const meta = (annotations?: Record<string, string>) => ({
    kind: 'TrafficRoute',
    metadata: { name: 'reviews', namespace: 'default', ...(annotations ? { annotations } : {}) },
  });
  assert.deepEqual(sourcesOf(meta()), {
    lowered: false,
    sources: [{ kind: 'TrafficRoute', namespace: 'default', name: 'reviews' }],
  });
  assert.deepEqual(
    sourcesOf(meta({ 'trellis.io/lowered-from': 'VirtualService default/reviews, HTTPRouteGroup shop/r-1' })),
    {
      lowered: true,
      sources: [
        { kind: 'VirtualService', namespace: 'default', name: 'reviews' },
        { kind: 'HTTPRouteGroup', namespace: 'shop', name: 'r-1' },
      ],
    },
  );
  assert.deepEqual(sourcesOf(meta({ 'trellis.io/lowered-from': 'TrafficSplit/default/split' })).sources, [
    { kind: 'TrafficSplit', namespace: 'default', name: 'split' },
  ]);
});

test('a trailing bucket still in progress is not drawn', () => {
  const p = (t: number) => ({ t, rps: 1, successRate: 1, p50: 1, p99: 1 });
  assert.deepEqual(
    settledPoints([p(0), p(10_000), p(20_000)], 10_000, 25_000).map((x) => x.t),
    [0, 10_000],
  );
  assert.deepEqual(
    settledPoints([p(0), p(10_000)], 10_000, 25_000).map((x) => x.t),
    [0, 10_000],
  );
});
