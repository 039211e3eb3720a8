// ring_hash and maglev: stickiness, minimal disruption, even spread.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, createLbEndpoint, type Balancer, type LbEndpoint } from './index.ts';
import { MaglevBalancer } from './maglev.ts';
import { RingHashBalancer } from './ring-hash.ts';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `session-${i * 7919}`);

function fleet(n: number): LbEndpoint[] {
  return Array.from({ length: n }, (_, i) =>
    createLbEndpoint({ address: `10.1.${i >> 8}.${i & 255}`, port: 9080 }),
  );
}

function owners(b: Balancer): string[] {
  return KEYS.map((k) => b.pick(k)!.key);
}

function movedFraction(before: string[], after: string[]): number {
  let moved = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) moved++;
  return moved / before.length;
}

for (const policy of ['ring_hash', 'maglev'] as const) {
  describe(policy, () => {
    test('the same key always maps to the same endpoint, whatever the list order', () => {
      const eps = fleet(8);
      const a = createBalancer(policy, eps);
      const b = createBalancer(policy, [...eps].reverse());
      const first = owners(a);
      assert.deepEqual(owners(a), first);
      assert.deepEqual(owners(b), first);
    });

    test('keys spread roughly evenly over equal endpoints', () => {
      const counts = new Map<string, number>();
      for (const key of owners(createBalancer(policy, fleet(10))))
        counts.set(key, (counts.get(key) ?? 0) + 1);
      assert.equal(counts.size, 10);
      const [low, high] = policy === 'maglev' ? [850, 1150] : [650, 1350];
      for (const [key, n] of counts) assert.ok(n > low && n < high, `${key}: ${n} of 10000`);
    });

    test('removing one of N endpoints moves about 1/N of the keys, only its own', () => {
      const eps = fleet(10);
      const before = owners(createBalancer(policy, eps));
      const removed = eps[3]!.key;
      const after = owners(
        createBalancer(
          policy,
          eps.filter((ep) => ep.key !== removed),
        ),
      );
      const moved = movedFraction(before, after);
      assert.ok(moved > 0.07 && moved < 0.13, `moved ${moved}`);
      let movedFromOthers = 0;
      for (let i = 0; i < KEYS.length; i++)
        if (before[i] !== after[i] && before[i] !== removed) movedFromOthers++;
      // A ring moves nothing else; Maglev's table rebuild moves a little.
      assert.ok(
        movedFromOthers / KEYS.length < (policy === 'maglev' ? 0.03 : 0.001),
        `others moved ${movedFromOthers}`,
      );
    });

    test('an unhealthy owner hands its keys over, and gets them back when healthy', () => {
      const eps = fleet(10);
      const b = createBalancer(policy, eps);
      const before = owners(b);
      eps[6]!.healthy = false;
      const during = owners(b);
      assert.ok(!during.includes(eps[6]!.key));
      const moved = movedFraction(before, during);
      assert.ok(moved > 0.07 && moved < 0.13, `moved ${moved}`);
      eps[6]!.healthy = true;
      assert.deepEqual(owners(b), before);
    });

    test('adding an endpoint moves about 1/(N+1) of the keys', () => {
      const eps = fleet(11);
      const before = owners(createBalancer(policy, eps.slice(0, 10)));
      const after = owners(createBalancer(policy, eps));
      const moved = movedFraction(before, after);
      assert.ok(moved > 0.06 && moved < 0.13, `moved ${moved}`);
    });

    test('without a hash key it picks a random healthy endpoint', () => {
      const eps = fleet(4);
      eps[0]!.healthy = false;
      const b = createBalancer(policy, eps);
      const seen = new Set<string>();
      for (let i = 0; i < 400; i++) seen.add(b.pick()!.key);
      assert.equal(seen.size, 3);
      assert.ok(!seen.has(eps[0]!.key));
    });
  });
}

describe('table sizes', () => {
  test('ring_hash holds at least tableSize points (default 1024), at most twice that', () => {
    const eps = fleet(10);
    const byDefault = new RingHashBalancer(eps, Math.random);
    assert.ok(byDefault.size >= 1024 && byDefault.size < 2048, `size ${byDefault.size}`);
    const custom = new RingHashBalancer(eps, Math.random, 5000);
    assert.ok(custom.size >= 5000 && custom.size < 10_000, `size ${custom.size}`);
  });

  test('ring_hash gives points in proportion to weight', () => {
    const eps = [
      createLbEndpoint({ address: 'a', port: 1, weight: 3 }),
      createLbEndpoint({ address: 'b', port: 1 }),
    ];
    assert.equal(new RingHashBalancer(eps, Math.random, 1024).size, 1024);
  });

  test('maglev uses 65537 by default and rounds other sizes up to a prime', () => {
    assert.equal(new MaglevBalancer(fleet(3), Math.random).size, 65_537);
    assert.equal(new MaglevBalancer(fleet(3), Math.random, 1000).size, 1009);
    assert.equal(new MaglevBalancer(fleet(3), Math.random, 251).size, 251);
  });

  test('maglev with a table smaller than the fleet still answers every key', () => {
    const b = createBalancer('maglev', fleet(20), { tableSize: 7 });
    for (let i = 0; i < 100; i++) assert.ok(b.pick(`k${i}`));
  });
});
