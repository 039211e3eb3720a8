import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyConfig } from '../../src/model/schema.ts';
import { resilienceConfig } from './config.ts';
import { sumCounters } from './processes.ts';
import type { RunResult } from './run-once.ts';
import { resilienceTable, summarize } from './scenario.ts';

const ports = { port: 10001, adminPort: 10002, upstreamPorts: [10003, 10004, 10005] };

test('the two proxy configs are valid models and differ only in the policies', () => {
  const without = ProxyConfig.parse(resilienceConfig('without', ports));
  const withPolicy = ProxyConfig.parse(resilienceConfig('with', ports));
  for (const c of [without, withPolicy]) {
    assert.deepEqual(
      c.clusters[0]?.endpoints.map((e) => e.port),
      [10003, 10004, 10005],
    );
    assert.equal(c.clusters[0]?.lb.policy, 'ewma');
    assert.deepEqual(c.routeTables[0]?.virtualHosts[0]?.routes[0]?.match, {
      methods: ['GET'],
      headers: [],
      query: [],
    });
  }
  const plain = without.routeTables[0]?.virtualHosts[0]?.routes[0];
  assert.equal(plain?.retries, undefined);
  assert.equal(plain?.hedge, undefined);
  assert.equal(without.clusters[0]?.outlierDetection, undefined);
  const route = withPolicy.routeTables[0]?.virtualHosts[0]?.routes[0];
  assert.equal(route?.retries?.attempts, 2);
  assert.equal(route?.retries?.perTryTimeout, 100);
  assert.deepEqual(route?.retries?.retryOn, ['connect-failure', 'reset', '5xx', 'gateway-error']);
  assert.ok(route?.hedge !== undefined);
  const od = withPolicy.clusters[0]?.outlierDetection;
  assert.equal(od?.consecutiveGatewayErrors, 2);
  assert.equal(od?.interval, 500);
});

test('counters are summed over their labels; absent ones are 0', () => {
  const page = [
    '# HELP trellis_retries_total Retries sent.',
    'trellis_retries_total{route="get",cluster="a"} 3',
    'trellis_retries_total{route="get",cluster="b"} 4',
    'trellis_hedges_total 2',
    'trellis_retries_totalx 100',
  ].join('\n');
  assert.deepEqual(sumCounters(page, ['trellis_retries_total', 'trellis_hedges_total', 'nope']), {
    trellis_retries_total: 7,
    trellis_hedges_total: 2,
    nope: 0,
  });
});

function run(failed: number, p99: number): RunResult {
  return {
    variant: 'with',
    faults: true,
    sent: 1000,
    failed,
    error_rate: failed / 1000,
    errors: { status: failed, socket: 0, timeout: 0 },
    p50_ms: 0.3,
    p90_ms: 0.6,
    p99_ms: p99,
    p999_ms: p99 * 2,
    max_ms: p99 * 3,
    send_lag_p99_ms: 1,
    events: [],
    proxy: {},
    instances: {},
  };
}

test('results carry the shape of issue 3 and the goal verdicts', () => {
  const runs = { healthy: run(0, 3), healthy_with: run(0, 3.5), without: run(50, 200), with: run(0, 5) };
  const r = summarize(runs, {}, {}, {});
  assert.deepEqual(r.with, { error_rate: 0, p99_ms: 5, failed: 0, sent: 1000 });
  assert.deepEqual(r.without, { error_rate: 0.05, p99_ms: 200, failed: 50, sent: 1000 });
  assert.equal(r.healthy_p99_ms, 3);
  assert.deepEqual(r.goal, { with_zero_errors: true, with_p99_within_2x_healthy: true });
  assert.match(resilienceTable(r), /\| with \| with \| yes \| 1000 \| 0 \(0 \/ 0 \/ 0\) \| 0 % \|/);

  const failedRun = summarize({ ...runs, with: null }, { with: 'proxy exited' }, {}, {});
  assert.equal(failedRun.with, null);
  assert.deepEqual(failedRun.goal, { with_zero_errors: null, with_p99_within_2x_healthy: null });
  assert.match(resilienceTable(failedRun), /proxy exited/);
});
