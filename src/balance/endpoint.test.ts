import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createBalancer,
  createLbEndpoint,
  onRequestEnd,
  onRequestStart,
  reconcileEndpoints,
} from './index.ts';

test('createLbEndpoint fills defaults, brackets IPv6 keys and clamps bad weights', () => {
  const ep = createLbEndpoint({ address: '10.0.0.1', port: 80 });
  assert.deepEqual([ep.key, ep.weight, ep.healthy, ep.inflight], ['10.0.0.1:80', 1, true, 0]);
  assert.equal(createLbEndpoint({ address: '::1', port: 80 }).key, '[::1]:80');
  assert.equal(createLbEndpoint({ address: 'a', port: 1, weight: 0 }).weight, 1);
  assert.equal(createLbEndpoint({ address: 'a', port: 1, weight: Number.NaN }).weight, 1);
  assert.equal(createLbEndpoint({ address: 'a', port: 1, weight: 2.7 }).weight, 2);
  assert.equal(createLbEndpoint({ address: 'a', port: 1, healthy: false }).healthy, false);
});

test('health changes bump the endpoint version only when the value changes', () => {
  const ep = createLbEndpoint({ address: 'a', port: 1 });
  ep.healthy = true;
  assert.equal(ep.healthVersion, 0);
  ep.healthy = false;
  ep.healthy = false;
  assert.equal(ep.healthVersion, 1);
});

test('one endpoint shared by two balancers: health seen by both', () => {
  const eps = [createLbEndpoint({ address: 'a', port: 1 }), createLbEndpoint({ address: 'b', port: 1 })];
  const rr = createBalancer('round_robin', eps);
  const mg = createBalancer('maglev', eps, { tableSize: 101 });
  eps[0]!.healthy = false;
  for (let i = 0; i < 20; i++) {
    assert.equal(rr.pick(), eps[1]);
    assert.equal(mg.pick(`k${i}`), eps[1]);
  }
});

test('reconcileEndpoints keeps the state of endpoints that stay', () => {
  const old = [
    createLbEndpoint({ address: 'a', port: 1 }),
    createLbEndpoint({ address: 'b', port: 1, weight: 2 }),
  ];
  onRequestStart(old[0]!);
  onRequestStart(old[1]!);
  onRequestEnd(old[1]!, 70, false, 0);
  onRequestStart(old[1]!);
  const next = reconcileEndpoints(old, [
    { address: 'a', port: 1, healthy: false },
    { address: 'b', port: 1, weight: 5 },
    { address: 'c', port: 1 },
  ]);
  assert.equal(next[0], old[0], 'same key and weight: same object');
  assert.equal(next[0]!.healthy, false);
  assert.equal(next[0]!.inflight, 1);
  assert.notEqual(next[1], old[1], 'a new weight needs a new object');
  assert.deepEqual([next[1]!.weight, next[1]!.inflight, next[1]!.ewmaMs], [5, 1, 70]);
  assert.equal(next[2]!.key, 'c:1');
});

test('reconcileEndpoints keeps ejections and health-check verdicts, even on a new weight', () => {
  const old = [createLbEndpoint({ address: 'a', port: 1 }), createLbEndpoint({ address: 'b', port: 1 })];
  old[0]!.ejected = true;
  old[0]!.outlier.backoff = 2;
  old[1]!.checkHealthy = false;
  const next = reconcileEndpoints(old, [
    { address: 'a', port: 1, weight: 3 },
    { address: 'b', port: 1 },
  ]);
  assert.notEqual(next[0], old[0]);
  assert.deepEqual([next[0]!.ejected, next[0]!.outlier.backoff], [true, 2]);
  assert.equal(next[1], old[1]);
  assert.equal(next[1]!.checkHealthy, false);
});

test('ejection and health-check changes bump the health version', () => {
  const ep = createLbEndpoint({ address: 'a', port: 1 });
  ep.ejected = true;
  ep.checkHealthy = false;
  ep.checkHealthy = false;
  assert.equal(ep.healthVersion, 2);
});
