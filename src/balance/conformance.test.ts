// One behaviour table, run against every load-balancing policy.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LbPolicy } from '../model/schema.ts';
import { createBalancer, createLbEndpoint, type Balancer, type LbEndpoint } from './index.ts';
import { manualClock, seededRandom } from './testing.ts';

const HASH_POLICIES = new Set<LbPolicy>(['ring_hash', 'maglev']);

function endpoints(...weights: number[]): LbEndpoint[] {
  return weights.map((weight, i) => createLbEndpoint({ address: `10.0.0.${i + 1}`, port: 8080, weight }));
}

function build(policy: LbPolicy, eps: LbEndpoint[], seed = 1, panicThreshold = 0): Balancer {
  return createBalancer(policy, eps, { random: seededRandom(seed), now: manualClock().now, panicThreshold });
}

/** Picks `n` times (hash policies: one distinct key per pick) and counts picks per endpoint key. */
function tally(policy: LbPolicy, b: Balancer, n: number, keyPrefix = 'user-'): Map<string, number> {
  const counts = new Map<string, number>();
  const hashed = HASH_POLICIES.has(policy);
  for (let i = 0; i < n; i++) {
    const ep = b.pick(hashed ? `${keyPrefix}${i}` : undefined);
    assert.ok(ep, 'a healthy endpoint exists, so pick() returns one');
    counts.set(ep.key, (counts.get(ep.key) ?? 0) + 1);
  }
  return counts;
}

for (const policy of LbPolicy.options) {
  describe(`balancer conformance: ${policy}`, () => {
    test('reports its policy', () => {
      assert.equal(build(policy, endpoints(1)).policy, policy);
    });

    test('an empty endpoint list picks nothing', () => {
      const b = build(policy, []);
      assert.equal(b.pick(), undefined);
      assert.equal(b.pick('some-key'), undefined);
    });

    test('a single endpoint is always chosen', () => {
      const [only] = endpoints(2);
      const b = build(policy, [only!]);
      for (let i = 0; i < 50; i++) {
        assert.equal(b.pick(), only);
        assert.equal(b.pick(`key-${i}`), only);
      }
    });

    test('an unhealthy endpoint is never chosen', () => {
      const eps = endpoints(1, 1, 1, 1);
      eps[1]!.healthy = false;
      eps[3]!.healthy = false;
      const counts = tally(policy, build(policy, eps), 2000);
      assert.equal(counts.get(eps[1]!.key), undefined);
      assert.equal(counts.get(eps[3]!.key), undefined);
      assert.ok((counts.get(eps[0]!.key) ?? 0) > 0);
      assert.ok((counts.get(eps[2]!.key) ?? 0) > 0);
    });

    test('an endpoint turning unhealthy after construction stops getting traffic', () => {
      const eps = endpoints(1, 1, 1);
      const b = build(policy, eps);
      tally(policy, b, 100);
      eps[0]!.healthy = false;
      assert.equal(tally(policy, b, 1000).get(eps[0]!.key), undefined);
    });

    test('all endpoints unhealthy picks nothing', () => {
      const eps = endpoints(1, 2, 3);
      const b = build(policy, eps);
      for (const ep of eps) ep.healthy = false;
      assert.equal(b.pick(), undefined);
      assert.equal(b.pick('key'), undefined);
    });

    test('an endpoint that becomes healthy again gets traffic', () => {
      const eps = endpoints(1, 1, 1);
      const b = build(policy, eps);
      eps[2]!.healthy = false;
      assert.equal(tally(policy, b, 500).get(eps[2]!.key), undefined);
      eps[2]!.healthy = true;
      assert.ok((tally(policy, b, 1500).get(eps[2]!.key) ?? 0) > 100);
    });

    test('over many picks every healthy endpoint gets traffic', () => {
      const eps = endpoints(1, 1, 1, 1, 1, 1, 1);
      const counts = tally(policy, build(policy, eps), 7000);
      for (const ep of eps) assert.ok((counts.get(ep.key) ?? 0) > 500, `${ep.key} got ${counts.get(ep.key)}`);
    });

    test('weights are respected: weight 3 gets about 3x the picks of weight 1', () => {
      const eps = endpoints(3, 1);
      const counts = tally(policy, build(policy, eps, 7), 20_000);
      const ratio = (counts.get(eps[0]!.key) ?? 0) / (counts.get(eps[1]!.key) ?? 1);
      assert.ok(ratio > 2.6 && ratio < 3.4, `ratio ${ratio.toFixed(2)}`);
    });

    test('weights are respected with an unhealthy endpoint in the list', () => {
      const eps = endpoints(1, 5, 2);
      eps[1]!.healthy = false;
      const counts = tally(policy, build(policy, eps, 11), 20_000);
      const ratio = (counts.get(eps[2]!.key) ?? 0) / (counts.get(eps[0]!.key) ?? 1);
      // A ring hands a dead endpoint's keys to whoever follows its points, so it is looser there.
      const [low, high] = policy === 'ring_hash' ? [1.5, 2.6] : [1.6, 2.4];
      assert.ok(ratio > low && ratio < high, `ratio ${ratio.toFixed(2)}`);
    });

    test('an ejected endpoint is never chosen, and is chosen again once un-ejected', () => {
      const eps = endpoints(1, 1, 1, 1);
      const b = build(policy, eps);
      tally(policy, b, 100);
      eps[2]!.ejected = true;
      assert.equal(tally(policy, b, 2000).get(eps[2]!.key), undefined);
      eps[2]!.ejected = false;
      assert.ok((tally(policy, b, 2000).get(eps[2]!.key) ?? 0) > 100);
    });

    test('an endpoint failing its health checks is never chosen', () => {
      const eps = endpoints(1, 1, 1);
      const b = build(policy, eps);
      eps[0]!.checkHealthy = false;
      const counts = tally(policy, b, 2000);
      assert.equal(counts.get(eps[0]!.key), undefined);
      assert.ok((counts.get(eps[1]!.key) ?? 0) > 0 && (counts.get(eps[2]!.key) ?? 0) > 0);
    });

    test('panic mode: below the threshold every endpoint healthy by config is chosen again', () => {
      const eps = endpoints(1, 1, 1, 1);
      const b = build(policy, eps, 3, 50);
      eps[0]!.ejected = true;
      // 3 of 4 available (75% >= 50%): the ejected endpoint stays out.
      assert.equal(tally(policy, b, 2000).get(eps[0]!.key), undefined);
      eps[1]!.checkHealthy = false;
      eps[2]!.ejected = true;
      eps[3]!.healthy = false;
      // 0 of 4 available: panic. The ejected and failing endpoints take traffic again; the one
      // the config marks unhealthy never does.
      const counts = tally(policy, b, 3000);
      for (const ep of eps.slice(0, 3))
        assert.ok((counts.get(ep.key) ?? 0) > 300, `${ep.key}: ${counts.get(ep.key)}`);
      assert.equal(counts.get(eps[3]!.key), undefined);
      // Back above the threshold: the panic ends.
      eps[1]!.checkHealthy = true;
      eps[2]!.ejected = false;
      assert.equal(tally(policy, b, 2000).get(eps[0]!.key), undefined);
    });

    test('panic threshold 0 disables panic mode: all ejected picks nothing', () => {
      const eps = endpoints(1, 1);
      const b = build(policy, eps, 1, 0);
      for (const ep of eps) ep.ejected = true;
      assert.equal(b.pick(), undefined);
      assert.equal(b.pick('key'), undefined);
    });

    test('endpoints not made by createLbEndpoint are refused', () => {
      const fake: LbEndpoint = {
        key: 'x:1',
        address: 'x',
        port: 1,
        weight: 1,
        healthy: true,
        inflight: 0,
        ewmaMs: 1,
        ewmaAtMs: -1,
        ewmaSamples: 0,
        healthVersion: 0,
        ejected: false,
        checkHealthy: true,
        outlier: {
          consecutive5xx: 0,
          consecutiveGatewayErrors: 0,
          requests: 0,
          failures: 0,
          backoff: 0,
          ejectedAtMs: 0,
          ejectionMs: 0,
        },
      };
      assert.throws(() => createBalancer(policy, [fake]), TypeError);
    });
  });
}
