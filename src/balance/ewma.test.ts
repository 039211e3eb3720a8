// The ewma policy (Linkerd's peak-EWMA P2C), driven by an injected clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createBalancer,
  createLbEndpoint,
  DEFAULT_RTT_MS,
  EWMA_DECAY_MS,
  FAILURE_PENALTY_MS,
  onRequestEnd,
  onRequestStart,
  type LbEndpoint,
} from './index.ts';
import { manualClock, seededRandom } from './testing.ts';

function pair(): [LbEndpoint, LbEndpoint] {
  return [
    createLbEndpoint({ address: '10.0.0.1', port: 80 }),
    createLbEndpoint({ address: '10.0.0.2', port: 80 }),
  ];
}

describe('peak EWMA estimate', () => {
  test('a new endpoint starts from the default RTT, which its first sample replaces', () => {
    const [ep] = pair();
    assert.equal(ep.ewmaMs, DEFAULT_RTT_MS);
    onRequestEnd(ep, 4, false, 0);
    assert.equal(ep.ewmaMs, 4);
  });

  test('a new endpoint is probed while the others are slower than the default RTT', () => {
    const clock = manualClock();
    const [old, fresh] = pair();
    onRequestEnd(old, 80, false, clock.ms);
    const lb = createBalancer('ewma', [old, fresh], { now: clock.now, random: seededRandom(4) });
    assert.equal(lb.pick(), fresh);
  });

  test('a latency spike raises the estimate at once; recovery decays over the window', () => {
    const [ep] = pair();
    onRequestEnd(ep, 500, false, 0);
    assert.equal(ep.ewmaMs, 500);
    onRequestEnd(ep, 10, false, EWMA_DECAY_MS);
    const expected = 500 * Math.exp(-1) + 10 * (1 - Math.exp(-1));
    assert.ok(Math.abs(ep.ewmaMs - expected) < 1e-6, `estimate ${ep.ewmaMs}`);
    // A fast sample right after a slow one barely moves it: recovery is paced by time.
    onRequestEnd(ep, 800, false, 2 * EWMA_DECAY_MS);
    onRequestEnd(ep, 1, false, 2 * EWMA_DECAY_MS + 1);
    assert.ok(ep.ewmaMs > 799);
  });

  test('a failure counts as at least the failure penalty', () => {
    const [ep] = pair();
    onRequestEnd(ep, 2, true, 0);
    assert.equal(ep.ewmaMs, FAILURE_PENALTY_MS);
  });

  test('bad latency values do not poison the estimate', () => {
    const [ep] = pair();
    onRequestEnd(ep, Number.NaN, false, 0);
    onRequestEnd(ep, -5, false, 1);
    assert.ok(Number.isFinite(ep.ewmaMs) && ep.ewmaMs > 0);
  });
});

describe('ewma balancer', () => {
  test('prefers the endpoint with fewer requests in flight when latencies match', () => {
    const clock = manualClock();
    const [a, b] = pair();
    const lb = createBalancer('ewma', [a, b], { now: clock.now, random: seededRandom(1) });
    onRequestStart(a);
    for (let i = 0; i < 50; i++) assert.equal(lb.pick(), b);
  });

  test('steers away from a 10x slower endpoint and comes back after it recovers', () => {
    const clock = manualClock();
    const [fast, slow] = pair();
    const lb = createBalancer('ewma', [fast, slow], { now: clock.now, random: seededRandom(2) });
    let slowLatency = 100;
    /** Runs `steps` sequential requests 10 ms apart; returns the slow endpoint's share. */
    const run = (steps: number): number => {
      let slowPicks = 0;
      for (let i = 0; i < steps; i++) {
        clock.advance(10);
        const ep = lb.pick()!;
        onRequestStart(ep);
        if (ep === slow) slowPicks++;
        onRequestEnd(ep, ep === slow ? slowLatency : 10, false, clock.ms);
      }
      return slowPicks / steps;
    };
    run(3_000); // 30 s to learn both latencies
    const whileSlow = run(3_000);
    assert.ok(whileSlow < 0.02, `slow endpoint share while slow: ${whileSlow}`);
    assert.ok(whileSlow > 0, 'the slow endpoint is still probed once its penalty decays');
    slowLatency = 10;
    run(6_000); // 60 s: its next probe sees 10 ms and the estimates converge
    const recovered = run(3_000);
    assert.ok(recovered > 0.3 && recovered < 0.7, `share after recovery: ${recovered}`);
  });

  test('an idle endpoint’s estimate decays toward zero as time passes', () => {
    const clock = manualClock();
    const [a, b] = pair();
    const lb = createBalancer('ewma', [a, b], { now: clock.now, random: seededRandom(3) });
    onRequestEnd(a, 200, false, clock.ms);
    onRequestEnd(b, 20, false, clock.ms);
    assert.equal(lb.pick(), b);
    clock.advance(3 * EWMA_DECAY_MS);
    lb.pick();
    assert.ok(Math.abs(a.ewmaMs - 200 * Math.exp(-3)) < 1e-6, `a ${a.ewmaMs}`);
    assert.ok(Math.abs(b.ewmaMs - 20 * Math.exp(-3)) < 1e-6, `b ${b.ewmaMs}`);
  });
});
