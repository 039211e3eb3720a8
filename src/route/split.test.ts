import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../model/schema.ts';
import { compileRouteTable, type MatchedRoute } from './router.ts';

function routeWith(backends: { cluster: string; weight: number }[]): MatchedRoute {
  const router = compileRouteTable(
    RouteTable.parse({ name: 't', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [{ backends }] }] }),
  );
  const route = router.match({ authority: 'a', path: '/', method: 'GET', headers: [] });
  assert.ok(route);
  return route;
}

function countPicks(route: MatchedRoute, n: number): Map<string | undefined, number> {
  const counts = new Map<string | undefined, number>();
  for (let i = 0; i < n; i++) {
    const c = route.pickCluster();
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  return counts;
}

test('a 90/10 split lands within ±2% over 10,000 picks', () => {
  const counts = countPicks(
    routeWith([
      { cluster: 'v1', weight: 90 },
      { cluster: 'v2', weight: 10 },
    ]),
    10_000,
  );
  const v1 = counts.get('v1') ?? 0;
  assert.equal(v1 + (counts.get('v2') ?? 0), 10_000);
  assert.ok(Math.abs(v1 / 10_000 - 0.9) <= 0.02, `v1 got ${v1}`);
});

test('a three-way split follows its weights', () => {
  const counts = countPicks(
    routeWith([
      { cluster: 'a', weight: 1 },
      { cluster: 'b', weight: 2 },
      { cluster: 'c', weight: 7 },
    ]),
    10_000,
  );
  assert.ok(Math.abs((counts.get('a') ?? 0) / 10_000 - 0.1) <= 0.02);
  assert.ok(Math.abs((counts.get('b') ?? 0) / 10_000 - 0.2) <= 0.02);
  assert.ok(Math.abs((counts.get('c') ?? 0) / 10_000 - 0.7) <= 0.02);
});

test('a zero-weight backend is never picked', () => {
  for (const backends of [
    [
      { cluster: 'live', weight: 100 },
      { cluster: 'dark', weight: 0 },
    ],
    [
      { cluster: 'dark', weight: 0 },
      { cluster: 'live', weight: 100 },
    ],
  ]) {
    const counts = countPicks(routeWith(backends), 10_000);
    assert.deepEqual([...counts], [['live', 10_000]]);
  }
});

test('all weights 0 picks nothing', () => {
  const route = routeWith([
    { cluster: 'a', weight: 0 },
    { cluster: 'b', weight: 0 },
  ]);
  assert.equal(route.pickCluster(), undefined);
});
