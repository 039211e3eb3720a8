// The per-bucket series over a real control plane fed by a hand-written report: one point per
// bucket at the same times for every item, empty buckets included, the filters and the errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, startTestControlPlane, waitFor } from '../testing.ts';
import type { SeriesResponse } from './api-series.ts';
import { reviewsReportingControlPlane } from './testing.ts';

test('series: a point per bucket for every resource, the report in one of them', async (t) => {
  const { cp } = await reviewsReportingControlPlane(t);
  const res = await waitFor('the report to be filed', async () => {
    const r = await api<SeriesResponse>(cp.url, 'GET', '/api/v1/stats/series?kind=svc&namespace=default');
    return r.body.items.some((i) => i.points.some((p) => p.rps > 0)) && r;
  });
  assert.equal(res.status, 200);
  const { kind, window, stepMs, items } = res.body;
  assert.deepEqual([kind, window, stepMs], ['services', '15m', 10_000]);
  assert.deepEqual(
    items.map((i) => i.name),
    ['reviews', 'web'],
  );
  const times = items[0]!.points.map((p) => p.t);
  // A control plane that just started knows one or two buckets, not 15 minutes of zeros.
  assert.ok(times.length >= 1 && times.length <= 3, `${times.length} points`);
  assert.ok(times.every((t, i) => i === 0 || t - times[i - 1]! === stepMs));
  assert.deepEqual(
    items[1]!.points.map((p) => p.t),
    times,
    'the same times for every item',
  );
  const busy = items[0]!.points.filter((p) => p.rps > 0);
  assert.equal(busy.length, 1);
  assert.equal(busy[0]!.successRate, 0.75);
  // Three in (0.5, 1] ms, one in (5, 10]: as the stats API computes them.
  assert.equal(busy[0]!.p50, 0.833);
  assert.equal(busy[0]!.p99, 9.8);
  const idle = items[1]!.points;
  assert.ok(idle.every((p) => p.rps === 0 && p.successRate === null && p.p50 === null && p.p99 === null));

  const one = await api<SeriesResponse>(
    cp.url,
    'GET',
    '/api/v1/stats/series?kind=workloads&name=reviews-v1-a&window=30s',
    undefined,
    { token: cp.readerToken },
  );
  assert.equal(one.status, 200);
  assert.equal(one.body.window, '30s');
  assert.deepEqual(
    one.body.items.map((i) => [i.name, i.points.length]),
    [['reviews-v1-a', times.length]],
  );
});

test('series: errors for a bad window, kind or name, and without a token', async (t) => {
  const cp = await startTestControlPlane(t);
  const code = async (path: string, token?: null): Promise<[number, string]> => {
    const res = await api<{ error?: { code: string } }>(cp.url, 'GET', path, undefined, {
      ...(token === null ? { token } : {}),
    });
    return [res.status, res.body.error?.code ?? 'ok'];
  };
  assert.deepEqual(await code('/api/v1/stats/series'), [200, 'ok']);
  assert.deepEqual(await code('/api/v1/stats/series?window=1h'), [400, 'TRELLIS_BAD_WINDOW']);
  assert.deepEqual(await code('/api/v1/stats/series?window=1s'), [400, 'TRELLIS_BAD_WINDOW']);
  assert.deepEqual(await code('/api/v1/stats/series?kind=routes'), [400, 'TRELLIS_UNKNOWN_KIND']);
  assert.deepEqual(await code('/api/v1/stats/series?name=nope'), [404, 'TRELLIS_NOT_FOUND']);
  assert.deepEqual(await code('/api/v1/stats/series', null), [401, 'TRELLIS_UNAUTHENTICATED']);
});
