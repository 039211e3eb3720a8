// Policy-specific behaviour of round_robin, random and least_request.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer, createLbEndpoint, onRequestEnd, onRequestStart, type LbEndpoint } from './index.ts';
import { seededRandom } from './testing.ts';

function named(...specs: [string, number][]): LbEndpoint[] {
  return specs.map(([name, weight], i) => createLbEndpoint({ address: name, port: 80 + i, weight }));
}

function sequence(pick: () => LbEndpoint | undefined, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += pick()?.address ?? '-';
  return s;
}

describe('round_robin', () => {
  test('equal weights rotate in list order from the (random) starting point', () => {
    const eps = named(['a', 1], ['b', 1], ['c', 1]);
    const b = createBalancer('round_robin', eps, { random: () => 0 });
    assert.equal(
      sequence(() => b.pick(), 7),
      'abcabca',
    );
    const c = createBalancer('round_robin', eps, { random: () => 0.5 });
    assert.equal(
      sequence(() => c.pick(), 4),
      'bcab',
    );
  });

  test("weights 5,1,1 interleave smoothly (nginx's example)", () => {
    const eps = named(['a', 5], ['b', 1], ['c', 1]);
    const b = createBalancer('round_robin', eps, { random: () => 0 });
    assert.equal(
      sequence(() => b.pick(), 14),
      'aabacaaaabacaa',
    );
  });

  test('exact ratio over whole cycles', () => {
    const eps = named(['a', 4], ['b', 2], ['c', 1]);
    const b = createBalancer('round_robin', eps);
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 700; i++) counts[b.pick()!.address]!++;
    assert.deepEqual(counts, { a: 400, b: 200, c: 100 });
  });

  test('skips unhealthy endpoints and keeps exact ratios among the rest', () => {
    const eps = named(['a', 3], ['b', 1], ['c', 2]);
    const b = createBalancer('round_robin', eps, { random: () => 0 });
    eps[0]!.healthy = false;
    assert.equal(
      sequence(() => b.pick(), 6),
      'cbccbc',
    );
    eps[0]!.healthy = true;
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 600; i++) counts[b.pick()!.address]!++;
    assert.deepEqual(counts, { a: 300, b: 100, c: 200 });
  });
});

describe('random', () => {
  test('is uniform over equal weights', () => {
    const eps = named(['a', 1], ['b', 1], ['c', 1], ['d', 1]);
    const b = createBalancer('random', eps, { random: seededRandom(3) });
    const counts = new Map<string, number>();
    for (let i = 0; i < 40_000; i++) {
      const a = b.pick()!.address;
      counts.set(a, (counts.get(a) ?? 0) + 1);
    }
    for (const [, n] of counts) assert.ok(n > 9_400 && n < 10_600, `count ${n}`);
  });
});

describe('least_request', () => {
  test('prefers the endpoint with fewer requests in flight', () => {
    const eps = named(['a', 1], ['b', 1]);
    const b = createBalancer('least_request', eps, { random: seededRandom(5) });
    for (let i = 0; i < 5; i++) onRequestStart(eps[0]!);
    for (let i = 0; i < 100; i++) assert.equal(b.pick(), eps[1]);
    for (let i = 0; i < 5; i++) onRequestEnd(eps[0]!, 1, false);
    for (let i = 0; i < 6; i++) onRequestStart(eps[1]!);
    for (let i = 0; i < 100; i++) assert.equal(b.pick(), eps[0]);
  });

  test('the most loaded of several endpoints is never picked (two choices)', () => {
    const eps = named(['a', 1], ['b', 1], ['c', 1], ['d', 1]);
    const b = createBalancer('least_request', eps, { random: seededRandom(9) });
    for (let i = 0; i < 3; i++) onRequestStart(eps[2]!);
    for (let i = 0; i < 1000; i++) assert.notEqual(b.pick(), eps[2]);
  });

  test('compares inflight divided by weight', () => {
    const eps = named(['heavy', 4], ['light', 1]);
    const b = createBalancer('least_request', eps, { random: seededRandom(2) });
    // heavy: 3/4 in flight per unit of weight, light: 1/1.
    for (let i = 0; i < 3; i++) onRequestStart(eps[0]!);
    onRequestStart(eps[1]!);
    for (let i = 0; i < 100; i++) assert.equal(b.pick(), eps[0]);
  });

  test('under closed-loop load, concurrency settles in proportion to weight', () => {
    const eps = named(['heavy', 3], ['light', 1]);
    const b = createBalancer('least_request', eps, { random: seededRandom(4) });
    // Keep 40 requests in flight; each pick starts one and ends the oldest.
    const queue: LbEndpoint[] = [];
    for (let i = 0; i < 4000; i++) {
      const ep = b.pick()!;
      onRequestStart(ep);
      queue.push(ep);
      if (queue.length > 40) onRequestEnd(queue.shift()!, 1, false);
    }
    assert.equal(eps[0]!.inflight + eps[1]!.inflight, 40);
    assert.ok(eps[0]!.inflight >= 27 && eps[0]!.inflight <= 33, `heavy in flight ${eps[0]!.inflight}`);
  });

  test('onRequestEnd never drives inflight below zero', () => {
    const [ep] = named(['a', 1]);
    onRequestEnd(ep!, 1, false);
    assert.equal(ep!.inflight, 0);
  });
});
