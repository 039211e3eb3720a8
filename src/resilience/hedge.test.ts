// Hedging through the proxy: a slow endpoint's try is overtaken by a hedge to another endpoint,
// which answers; the slow try is cancelled upstream. Only idempotent requests are hedged. The
// delay can follow the route's observed p95 (the latency sketch is checked on its own first).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { LatencySketch } from './latency-sketch.ts';
import {
  answer,
  eventually,
  httpRequest,
  resilienceConfig,
  startCountingUpstream,
  startTestProxy,
  type CountingUpstream,
} from './test-support.ts';

test('the latency sketch: no estimate before enough samples, then the p95, aged out by windows', () => {
  let now = 0;
  const sketch = new LatencySketch({ windowMs: 1000, minSamples: 20, now: () => now });
  for (let i = 0; i < 19; i++) sketch.record(10);
  assert.equal(sketch.quantile(0.95), undefined);
  for (let i = 0; i < 81; i++) sketch.record(10);
  for (let i = 0; i < 10; i++) sketch.record(500);
  const p95 = sketch.quantile(0.95)!;
  assert.ok(p95 >= 500 && p95 < 500 * 1.21, `p95 ${p95}`);
  const p50 = sketch.quantile(0.5)!;
  assert.ok(p50 >= 10 && p50 < 10 * 1.21, `p50 ${p50}`);
  now = 1500; // one window later the samples still count
  assert.ok(sketch.quantile(0.5)! >= 10);
  now = 3100; // two idle windows: all stale
  assert.equal(sketch.quantile(0.5), undefined);
});

async function slowAndFast(t: TestContext): Promise<{ slow: CountingUpstream; fast: CountingUpstream }> {
  const slow = await startCountingUpstream((req) => req.resume()); // never answers
  const fast = await startCountingUpstream((req, res) => answer(req, res, 200, 'fast', 'fast'));
  t.after(() => Promise.all([slow.close(), fast.close()]));
  return { slow, fast };
}

test('a slow first try is hedged to another endpoint; the hedge wins and the slow try is cancelled', async (t) => {
  const { slow, fast } = await slowAndFast(t);
  // Weights 2:1: round robin's first pick is the slow endpoint.
  const proxy = await startTestProxy(
    resilienceConfig({ timeout: '5s', hedge: { delay: '50ms' } }, [
      { port: slow.port, weight: 2 },
      { port: fast.port, weight: 1 },
    ]),
  );
  t.after(() => proxy.close());
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'fast');
  assert.equal(r.headers['x-trellis-attempts'], '2');
  assert.equal(proxy.hedges(), 1);
  assert.equal(fast.requests, 1);
  await eventually(() => slow.aborted === 1);
  assert.equal(slow.requests, 1);
});

test('a POST is never hedged', async (t) => {
  const { slow, fast } = await slowAndFast(t);
  const proxy = await startTestProxy(
    resilienceConfig({ timeout: '300ms', hedge: { delay: '20ms' } }, [
      { port: slow.port, weight: 2 },
      { port: fast.port, weight: 1 },
    ]),
  );
  t.after(() => proxy.close());
  const r = await httpRequest({ port: proxy.port, method: 'POST', body: 'once only' });
  assert.equal(r.status, 504);
  assert.equal(proxy.hedges(), 0);
  assert.equal(fast.requests, 0);
  await eventually(() => slow.aborted === 1);
});

test('without a fixed delay, requests slower than the observed p95 are hedged', async (t) => {
  let stall = false;
  const a = await startCountingUpstream((req, res) =>
    stall ? req.resume() : answer(req, res, 200, 'a', 'a'),
  );
  const b = await startCountingUpstream((req, res) => answer(req, res, 200, 'b', 'b'));
  t.after(() => Promise.all([a.close(), b.close()]));
  const proxy = await startTestProxy(
    resilienceConfig({ timeout: '5s', hedge: {} }, [
      { port: a.port, weight: 2 },
      { port: b.port, weight: 1 },
    ]),
  );
  t.after(() => proxy.close());
  // Learn the route's latency (no hedging before 20 samples).
  for (let i = 0; i < 40; i++) assert.equal((await httpRequest({ port: proxy.port })).status, 200);
  const hedgesBefore = proxy.hedges();
  stall = true;
  for (let i = 0; i < 3; i++) {
    const r = await httpRequest({ port: proxy.port });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'b');
  }
  assert.ok(proxy.hedges() > hedgesBefore, 'the stalled tries were hedged');
  await eventually(() => a.aborted >= 1);
});
