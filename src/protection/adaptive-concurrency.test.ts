// Adaptive concurrency: the gradient controller on its own (fed latencies by hand), then a cluster
// in front of a real upstream that slows down and recovers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdaptiveConcurrency, MIN_RTT_SAMPLES, WINDOWS_AT_MIN_BEFORE_PROBE } from './adaptive-concurrency.ts';
import {
  clusterInput,
  directCluster,
  headerOf,
  startUpstream,
  waitFor,
  type Answer,
} from './test-support.ts';

const config = { initialLimit: 20, minLimit: 2, maxLimit: 100, sampleWindow: 1000 };

function window(ac: AdaptiveConcurrency, latencyMs: number, n = 10): void {
  for (let i = 0; i < n; i++) ac.sample(latencyMs);
  ac.update();
}

test('the limit holds until the minRTT is measured, then grows while latency stays near it', () => {
  const gauge = { value: 0 };
  const ac = new AdaptiveConcurrency(config, gauge);
  assert.equal(gauge.value, 20);
  window(ac, 10, MIN_RTT_SAMPLES - 1);
  assert.equal(ac.limit, 20, 'still measuring');
  ac.sample(10);
  assert.equal(ac.probing, false);
  assert.equal(ac.minRttMs, 10);
  window(ac, 10);
  // gradient = 10 × 1.25 / 10 = 1.25: 25 + √25 = 30
  assert.equal(ac.limit, 30);
  for (let i = 0; i < 10; i++) window(ac, 10);
  assert.equal(ac.limit, 100, 'clamped to maxLimit');
  assert.equal(gauge.value, 100);
});

test('the limit falls when latency rises, no lower than minLimit, and re-measures the minRTT there', () => {
  const ac = new AdaptiveConcurrency(config, { value: 0 });
  window(ac, 10, MIN_RTT_SAMPLES);
  window(ac, 100); // gradient clamps at 0.5: 10 + √10 → 13
  assert.equal(ac.limit, 13);
  let windows = 1;
  while (ac.limit > config.minLimit && windows < 50) {
    window(ac, 100);
    windows++;
  }
  // The fixed point of L/2 + √(L/2) is 2: the limit settles at the floor.
  assert.equal(ac.limit, config.minLimit);
  for (let i = 1; i < WINDOWS_AT_MIN_BEFORE_PROBE && !ac.probing; i++) window(ac, 100);
  assert.equal(ac.probing, true, 'stuck at the minimum: the baseline is measured again');
  window(ac, 100, MIN_RTT_SAMPLES);
  assert.equal(ac.minRttMs, 100);
  window(ac, 100);
  assert.ok(ac.limit > config.minLimit, 'the new baseline lets the limit grow again');
});

test('windows without answers leave the limit alone', () => {
  const ac = new AdaptiveConcurrency(config, { value: 0 });
  window(ac, 5, MIN_RTT_SAMPLES);
  const before = ac.limit;
  ac.update();
  ac.update();
  assert.equal(ac.limit, before);
});

test('a cluster sheds with 503 when its upstream slows down, then recovers', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  const d = directCluster(
    clusterInput([up], {
      adaptiveConcurrency: { initialLimit: 8, minLimit: 1, maxLimit: 40, sampleWindow: 40 },
    }),
  );
  t.after(() => d.close());
  const ac = d.cluster.adaptive!;
  const gauge = d.policy.concurrencyLimit.series({ cluster: 'up' });
  const overflow = d.policy.overflow.series({ cluster: 'up', limit: 'adaptive' });

  // Closed-loop load: 12 clients, each sending its next request when the last one is answered.
  const CLIENTS = 12;
  let running = true;
  const refusals: Answer[] = [];
  const clients = Array.from({ length: CLIENTS }, async () => {
    for (let i = 0; i < 100_000 && running; i++) {
      const a = await d.send();
      if (a.code === 'TRELLIS_OVERFLOW') {
        refusals.push(a);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
  });
  t.after(async () => {
    running = false;
    up.delayMs = 0;
    await Promise.all(clients);
  });

  up.delayMs = 2;
  await waitFor(() => !ac.probing && ac.limit >= CLIENTS, 'the limit to grow past the load', 20_000);
  const healthy = ac.limit;

  up.delayMs = 60; // 30× slower: queueing
  await waitFor(() => ac.limit < CLIENTS / 3 && overflow.value > 0, 'the limit to fall and shed', 20_000);
  assert.ok(ac.limit < healthy);
  assert.equal(gauge.value, ac.limit);
  const shed = refusals[0]!;
  assert.equal(shed.status, 503);
  assert.equal(headerOf(shed.headers, 'x-trellis-overloaded'), 'true');

  up.delayMs = 2;
  await waitFor(() => ac.limit >= CLIENTS, 'the limit to recover', 20_000);
  running = false;
  await Promise.all(clients);
  // Recovered: a burst the slow phase's limit would have cut is served in full (a third of the
  // limit reached, so that a noisy window or two before it cannot bring the limit under it).
  const burst = await Promise.all(Array.from({ length: CLIENTS / 3 }, () => d.send()));
  assert.deepEqual(
    burst.map((a) => a.status),
    burst.map(() => 200),
  );
});
