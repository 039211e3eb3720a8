// Outlier detection against real upstreams that really fail. The detector's clock is a manual
// one and its sweeps are run by hand, so ejection times are checked without waiting for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock } from '../balance/testing.ts';
import {
  clusterInput,
  directCluster,
  get,
  sendSequentially,
  startProxy,
  startUpstream,
  waitFor,
  type Answer,
  type ControlledUpstream,
} from './test-support.ts';

async function upstreams(
  t: { after(fn: () => Promise<void>): void },
  n: number,
): Promise<ControlledUpstream[]> {
  const list = await Promise.all(Array.from({ length: n }, (_, i) => startUpstream(`u${i}`)));
  t.after(() => Promise.all(list.map((u) => u.close())).then(() => {}));
  return list;
}

function by(answers: Answer[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of answers) m.set(a.upstream, (m.get(a.upstream) ?? 0) + 1);
  return m;
}

const BASE = 30_000;

test('consecutive 5xx: the failing endpoint is ejected, gets no traffic for the ejection time, then returns', async (t) => {
  const [a, b, bad] = await upstreams(t, 3);
  bad!.status = 503;
  const clock = manualClock();
  const d = directCluster(
    clusterInput([a!, b!, bad!], {
      outlierDetection: { consecutive5xx: 3, baseEjectionTime: BASE, maxEjectionPercent: 50 },
    }),
    { now: clock.now, timers: false },
  );
  t.after(() => d.close());
  await sendSequentially(d, 9); // round robin: three answers from each, the last three 503s from `bad`
  const [badEp] = d.cluster.endpoints.filter((ep) => ep.port === bad!.port);
  assert.equal(badEp!.ejected, true);
  assert.equal(d.policy.ejections.series({ cluster: 'up', detector: 'consecutive5xx' }).value, 1);
  assert.equal(d.policy.ejectedEndpoints.series({ cluster: 'up' }).value, 1);

  const before = bad!.requests;
  clock.advance(BASE - 1);
  d.cluster.outlier!.sweep();
  const during = await sendSequentially(d, 30);
  assert.equal(bad!.requests, before, 'an ejected endpoint receives no traffic');
  assert.ok(during.every((r) => r.status === 200));

  clock.advance(1);
  d.cluster.outlier!.sweep();
  assert.equal(badEp!.ejected, false, 'back once the ejection time is up');
  assert.equal(d.policy.ejectedEndpoints.series({ cluster: 'up' }).value, 0);
  await sendSequentially(d, 6);
  assert.ok(bad!.requests > before, 'and receives traffic again');
});

test('the ejection time grows with each ejection and shrinks while the endpoint behaves', async (t) => {
  const [a, bad] = await upstreams(t, 2);
  bad!.status = 502;
  const clock = manualClock();
  const d = directCluster(
    clusterInput([a!, bad!], {
      outlierDetection: { consecutive5xx: 2, baseEjectionTime: BASE, maxEjectionPercent: 50 },
    }),
    { now: clock.now, timers: false },
  );
  t.after(() => d.close());
  const badEp = d.cluster.endpoints.find((ep) => ep.port === bad!.port)!;
  const od = d.cluster.outlier!;

  await sendSequentially(d, 4);
  assert.equal(badEp.ejected, true);
  assert.equal(badEp.outlier.ejectionMs, BASE, 'first ejection: the base time');
  clock.advance(BASE);
  od.sweep();
  assert.equal(badEp.ejected, false);

  await sendSequentially(d, 4); // still failing: ejected again before any sweep in service
  assert.equal(badEp.ejected, true);
  assert.equal(badEp.outlier.ejectionMs, 2 * BASE, 'second ejection: twice the base time');
  clock.advance(BASE);
  od.sweep();
  assert.equal(badEp.ejected, true, 'still out after one base time');
  clock.advance(BASE);
  od.sweep();
  assert.equal(badEp.ejected, false, 'back after two');
  assert.equal(d.policy.ejections.series({ cluster: 'up', detector: 'consecutive5xx' }).value, 2);

  // Two sweeps in service bring the backoff down to 0: the next ejection is the base time again.
  od.sweep();
  od.sweep();
  await sendSequentially(d, 4);
  assert.equal(badEp.ejected, true);
  assert.equal(badEp.outlier.ejectionMs, BASE);
});

test('maxEjectionPercent caps how many endpoints are ejected at once', async (t) => {
  const [good, bad1, bad2] = await upstreams(t, 3);
  bad1!.status = 503;
  bad2!.status = 503;
  const d = directCluster(
    clusterInput([good!, bad1!, bad2!], {
      outlierDetection: { consecutive5xx: 2, baseEjectionTime: BASE, maxEjectionPercent: 34 },
    }),
    { timers: false },
  );
  t.after(() => d.close());
  await sendSequentially(d, 30);
  const ejected = d.cluster.endpoints.filter((ep) => ep.ejected);
  assert.equal(ejected.length, 1, '34% of 3 endpoints is one');
  const still = ejected[0]!.port === bad1!.port ? bad2! : bad1!;
  const before = still.requests;
  await sendSequentially(d, 10);
  assert.ok(still.requests > before, 'the other failing endpoint keeps its share');
  assert.equal(d.policy.ejectedEndpoints.series({ cluster: 'up' }).value, 1);
});

test('a small percentage still allows one ejection; 0 allows none', async (t) => {
  const [good, bad] = await upstreams(t, 2);
  bad!.status = 503;
  const some = directCluster(
    clusterInput([good!, bad!], { outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 10 } }),
    { timers: false },
  );
  t.after(() => some.close());
  await sendSequentially(some, 6);
  assert.equal(some.cluster.endpoints.filter((ep) => ep.ejected).length, 1);
  const none = directCluster(
    {
      ...clusterInput([good!, bad!], { outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 0 } }),
      name: 'other',
    },
    { timers: false },
  );
  t.after(() => none.close());
  await sendSequentially(none, 6);
  assert.equal(none.cluster.endpoints.filter((ep) => ep.ejected).length, 0);
});

test('panic threshold: with 2 of 3 ejected and panicThreshold 50, traffic spreads over all 3', async (t) => {
  const [good, bad1, bad2] = await upstreams(t, 3);
  bad1!.status = 503;
  bad2!.status = 503;
  const outlierDetection = { consecutive5xx: 1, baseEjectionTime: BASE, maxEjectionPercent: 100 };
  const panic = directCluster(clusterInput([good!, bad1!, bad2!], { outlierDetection, panicThreshold: 50 }), {
    timers: false,
  });
  t.after(() => panic.close());
  await sendSequentially(panic, 6);
  assert.equal(panic.cluster.endpoints.filter((ep) => ep.ejected).length, 2);
  const spread = by(await sendSequentially(panic, 30));
  for (const name of ['u0', 'u1', 'u2'])
    assert.ok((spread.get(name) ?? 0) >= 5, `${name}: ${spread.get(name)}`);

  // Without panic mode the one endpoint left takes everything.
  const calm = directCluster(
    { ...clusterInput([good!, bad1!, bad2!], { outlierDetection, panicThreshold: 0 }), name: 'calm' },
    { timers: false },
  );
  t.after(() => calm.close());
  await sendSequentially(calm, 6);
  const only = by(await sendSequentially(calm, 30));
  assert.deepEqual([...only.keys()], ['u0']);
});

test('success rate: the endpoint far below the others is ejected at the sweep', async (t) => {
  const ups = await upstreams(t, 5);
  // Half of u4's answers fail, alternately, so consecutive counts never reach anything.
  ups[4]!.statusFor = (n) => (n % 2 === 0 ? 500 : 200);
  const d = directCluster(
    clusterInput(ups, {
      outlierDetection: {
        consecutive5xx: 0,
        successRate: { minHosts: 5, requestVolume: 20, stdevFactor: 1.9 },
      },
    }),
    { timers: false },
  );
  t.after(() => d.close());
  await sendSequentially(d, 200);
  assert.equal(d.cluster.endpoints.filter((ep) => ep.ejected).length, 0, 'nothing before the sweep');
  d.cluster.outlier!.sweep();
  const ejected = d.cluster.endpoints.filter((ep) => ep.ejected);
  assert.deepEqual(
    ejected.map((ep) => ep.port),
    [ups[4]!.port],
  );
  assert.equal(d.policy.ejections.series({ cluster: 'up', detector: 'successRate' }).value, 1);
  // The counts start over: a sweep without enough answers ejects no one else.
  d.cluster.outlier!.sweep();
  assert.equal(d.cluster.endpoints.filter((ep) => ep.ejected).length, 1);
});

test('success rate needs minHosts endpoints with requestVolume answers', async (t) => {
  const ups = await upstreams(t, 5);
  ups[4]!.statusFor = (n) => (n % 2 === 0 ? 500 : 200);
  const d = directCluster(
    clusterInput(ups, {
      outlierDetection: { consecutive5xx: 0, successRate: { minHosts: 5, requestVolume: 50 } },
    }),
    { timers: false },
  );
  t.after(() => d.close());
  await sendSequentially(d, 200); // 40 per endpoint: below the volume
  d.cluster.outlier!.sweep();
  assert.equal(d.cluster.endpoints.filter((ep) => ep.ejected).length, 0);
});

test('failure percentage: an endpoint failing at or above the threshold is ejected', async (t) => {
  const ups = await upstreams(t, 4);
  // 75% failures; the consecutive detectors are off, so only the failure percentage can eject.
  ups[1]!.statusFor = (n) => (n % 4 === 3 ? 200 : 503);
  const d = directCluster(
    clusterInput(ups, {
      outlierDetection: {
        consecutive5xx: 0,
        consecutiveGatewayErrors: 0,
        maxEjectionPercent: 50,
        failurePercentage: { threshold: 70, minHosts: 3, requestVolume: 10 },
      },
    }),
    { timers: false },
  );
  t.after(() => d.close());
  await sendSequentially(d, 80);
  d.cluster.outlier!.sweep();
  assert.deepEqual(
    d.cluster.endpoints.filter((ep) => ep.ejected).map((ep) => ep.port),
    [ups[1]!.port],
  );
  assert.equal(d.policy.ejections.series({ cluster: 'up', detector: 'failurePercentage' }).value, 1);
});

test('consecutive gateway errors: connect failures to a dead endpoint count', async (t) => {
  const [good, dead] = await upstreams(t, 2);
  await dead!.kill();
  const d = directCluster(
    clusterInput([good!, dead!], {
      outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 2, maxEjectionPercent: 50 },
    }),
    { timers: false },
  );
  t.after(() => d.close());
  const answers = await sendSequentially(d, 4);
  assert.equal(answers.filter((a) => a.code === 'TRELLIS_UPSTREAM_CONNECT_FAILED').length, 2);
  const deadEp = d.cluster.endpoints.find((ep) => ep.port === dead!.port)!;
  assert.equal(deadEp.ejected, true);
  assert.equal(d.policy.ejections.series({ cluster: 'up', detector: 'consecutiveGatewayErrors' }).value, 1);
  const after = await sendSequentially(d, 10);
  assert.ok(after.every((a) => a.status === 200));
});

test('a 500 is a 5xx but not a gateway error: it resets the gateway-error count', async (t) => {
  const [good, bad] = await upstreams(t, 2);
  bad!.statusFor = (n) => (n % 2 === 0 ? 503 : 500);
  const d = directCluster(
    clusterInput([good!, bad!], {
      outlierDetection: { consecutive5xx: 0, consecutiveGatewayErrors: 2, maxEjectionPercent: 50 },
    }),
    { timers: false },
  );
  t.after(() => d.close());
  await sendSequentially(d, 20);
  assert.equal(d.cluster.endpoints.filter((ep) => ep.ejected).length, 0);
});

test('ejections survive a reload; a config without outlier detection lifts them', async (t) => {
  const [good, bad] = await upstreams(t, 2);
  bad!.status = 503;
  const outlierDetection = { consecutive5xx: 2, baseEjectionTime: BASE, maxEjectionPercent: 50 };
  const d = directCluster(clusterInput([good!, bad!], { outlierDetection }), { timers: false });
  t.after(() => d.close());
  await sendSequentially(d, 4);
  const badEp = d.cluster.endpoints.find((ep) => ep.port === bad!.port)!;
  assert.equal(badEp.ejected, true);
  const first = d.cluster.outlier!;

  // Another setting (interval) makes a new detector over the same endpoint objects.
  const next = d.reload(
    clusterInput([good!, bad!], { outlierDetection: { ...outlierDetection, interval: 5000 } }),
  );
  assert.notEqual(next.outlier, first);
  assert.equal(
    next.endpoints.find((ep) => ep.port === bad!.port),
    badEp,
  );
  assert.equal(badEp.ejected, true, 'the reload did not forget the ejection');
  const requests = badEp.outlier.requests;
  first.record(badEp, 503);
  assert.equal(badEp.outlier.requests, requests, 'the detector swapped out is stopped');
  const before = bad!.requests;
  await sendSequentially(d, 10);
  assert.equal(bad!.requests, before);

  d.reload(clusterInput([good!, bad!]));
  assert.equal(badEp.ejected, false);
  await sendSequentially(d, 4);
  assert.ok(bad!.requests > before);
});

test('with timers the ejected endpoint comes back by itself', async (t) => {
  const [good, bad] = await upstreams(t, 2);
  bad!.status = 503;
  const d = directCluster(
    clusterInput([good!, bad!], {
      outlierDetection: { consecutive5xx: 2, interval: 20, baseEjectionTime: 100, maxEjectionPercent: 50 },
    }),
  );
  t.after(() => d.close());
  await sendSequentially(d, 4);
  const badEp = d.cluster.endpoints.find((ep) => ep.port === bad!.port)!;
  assert.equal(badEp.ejected, true);
  await waitFor(() => !badEp.ejected, 'the un-ejection');
  bad!.status = 200;
  const answers = await sendSequentially(d, 6);
  assert.ok(answers.some((a) => a.upstream === 'u1'));
});

test('through the proxy: clients stop seeing the failing endpoint once it is ejected', async (t) => {
  const [a, b, bad] = await upstreams(t, 3);
  bad!.status = 503;
  const proxy = await startProxy(
    clusterInput([a!, b!, bad!], { outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 50 } }),
  );
  t.after(() => proxy.close());
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await get(proxy.port)).status);
  assert.equal(statuses.filter((s) => s === 503).length, 2, 'two 503s, then the ejection');
  const before = bad!.requests;
  for (let i = 0; i < 12; i++) assert.equal((await get(proxy.port)).status, 200);
  assert.equal(bad!.requests, before);
});
