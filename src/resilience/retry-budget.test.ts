// The retry budget: the arithmetic on a test clock, then a failing upstream behind the proxy that
// must not receive more than its requests plus ratio × requests + the floor.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RetryBudget } from './retry-budget.ts';
import {
  answer,
  resilienceConfig,
  startCountingUpstream,
  startTestProxy,
  httpRequest,
} from './test-support.ts';

test('retries are limited to ratio × requests plus the floor, over the ttl window', () => {
  let now = 0;
  const budget = new RetryBudget({ ratio: 0.5, minRetriesPerSecond: 1, ttl: 2000 }, () => now);
  // The floor: 1/s × 2 s = 2 retries with no request at all.
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), false);
  for (let i = 0; i < 4; i++) budget.deposit(); // + 0.5 × 4 = 2 more
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), true);
  assert.equal(budget.withdraw(), false);
  // One slot later the first second's retries are still in the window.
  now = 1000;
  assert.equal(budget.withdraw(), false);
  // Past the ttl everything has expired: the floor is back.
  now = 2500;
  assert.equal(budget.available(), 2);
});

test('a ratio of 0 and no floor allows no retry at all', () => {
  const budget = new RetryBudget({ ratio: 0, minRetriesPerSecond: 0, ttl: 10_000 });
  for (let i = 0; i < 100; i++) budget.deposit();
  assert.equal(budget.withdraw(), false);
});

test('an upstream failing every request gets at most ratio × requests + floor retries', async (t) => {
  const up = await startCountingUpstream((req, res) => answer(req, res, 503, 'down'));
  t.after(() => up.close());
  const budget = { ratio: 0.2, minRetriesPerSecond: 1, ttl: '30s' };
  const proxy = await startTestProxy(
    resilienceConfig({ retries: { retryOn: ['5xx'], attempts: 3, backoff: { base: 1, max: 2 }, budget } }, [
      up,
    ]),
  );
  t.after(() => proxy.close());
  const requests = 200;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next++;
      const r = await httpRequest({ port: proxy.port });
      assert.equal(r.status, 503);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const bound = 0.2 * requests + 1 * 30;
  const retries = up.requests - requests;
  assert.ok(retries <= bound, `${retries} retries, bound ${bound}`);
  assert.ok(retries > 0, 'the floor and the ratio still allow some');
  assert.equal(proxy.retries(), retries);
  assert.ok(proxy.exhausted() > 0, 'exhaustion is counted');
  // Without a budget, 3 retries per request would have been 600.
});
