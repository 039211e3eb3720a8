import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfig } from '../model/schema.ts';
import type { Resource } from '../resources/kinds.ts';
import {
  api,
  clusterOf,
  policyYaml,
  proxyStatus,
  proxyStatuses,
  registration,
  serviceYaml,
  startTestControlPlane,
  StreamClient,
  waitFor,
} from './testing.ts';

test('hello → welcome → snapshot of this proxy → ACK shows as acked in /api/v1/proxies', async (t) => {
  const cp = await startTestControlPlane(t);
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v1-abc');
  c.hello(reg);
  const welcome = await c.waitMessage('welcome', (m) => m.type === 'welcome');
  // The welcome names the one SPIFFE ID this proxy may get a certificate for.
  assert.deepEqual(welcome, {
    type: 'welcome',
    heartbeatMs: 1000,
    identity: 'spiffe://cluster.local/ns/default/sa/reviews',
  });
  const snap = await c.nextSnapshot(0);
  assert.equal(c.messages.indexOf(welcome), 0, 'welcome comes first');

  // A valid model config, made for this proxy: its node, its inbound port, its app behind it.
  const config = ProxyConfig.parse(snap.config);
  assert.equal(config.version, snap.version);
  assert.deepEqual(config.node, {
    id: reg.name,
    service: 'reviews',
    namespace: 'default',
    workload: 'reviews-v1',
    version: 'v1',
  });
  const inbound = config.listeners.find((l) => l.name === 'inbound');
  assert.equal(inbound?.port, reg.spec.ports.inbound);
  assert.deepEqual(
    config.clusters.find((c) => c.name === 'inbound:app')?.endpoints.map((e) => e.port),
    [reg.spec.ports.app],
  );
  // It is its own service's endpoint too (through its inbound port).
  assert.deepEqual(
    clusterOf(snap, 'outbound:reviews.default')?.endpoints.map((e) => e.port),
    [reg.spec.ports.inbound],
  );

  const before = await proxyStatus(cp.url, reg.name);
  assert.equal(before?.id, 'reviews-v1-abc.default');
  assert.equal(before?.sent, snap.version);
  assert.equal(before?.acked, undefined);

  c.send({ type: 'ack', version: snap.version });
  const after = await waitFor('the ACK', async () => {
    const s = await proxyStatus(cp.url, reg.name);
    return s?.acked !== undefined && s;
  });
  assert.equal(after.acked, snap.version);
  assert.equal(after.nacked, undefined);

  const stored = await api<Resource>(cp.url, 'GET', `/api/v1/resources/Workload/default/${reg.name}`);
  assert.equal(stored.status, 200);
  assert.equal(stored.body.kind === 'Workload' ? stored.body.spec.ports.inbound : 0, reg.spec.ports.inbound);
});

test('a NACK is shown with its reason, the ACKed version stays, and a later ACK clears it', async (t) => {
  const cp = await startTestControlPlane(t);
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v1-nack');
  const first = await c.register(reg);

  await api(cp.url, 'POST', '/api/v1/apply?file=ratings.yaml', serviceYaml('ratings'));
  const second = await c.nextSnapshot(1);
  assert.ok(Number(second.version) > Number(first.version));
  c.send({ type: 'nack', version: second.version, error: 'listener outbound: port 15001 in use' });
  const nacked = await waitFor('the NACK', async () => {
    const s = await proxyStatus(cp.url, reg.name);
    return s?.nacked !== undefined && s;
  });
  assert.deepEqual(nacked.nacked, { version: second.version, error: 'listener outbound: port 15001 in use' });
  assert.equal(nacked.acked, first.version, 'the proxy still runs the version it ACKed');
  assert.equal(nacked.sent, second.version);

  // The next change arrives; the proxy takes it, and the rejection is history.
  await api(cp.url, 'POST', '/api/v1/apply?file=details.yaml', serviceYaml('details'));
  const third = await c.nextSnapshot(2);
  c.send({ type: 'ack', version: third.version });
  const synced = await waitFor('the ACK of the next version', async () => {
    const s = await proxyStatus(cp.url, reg.name);
    return s?.acked === third.version && s;
  });
  assert.equal(synced.nacked, undefined);
  assert.equal(c.snapshots().length, 3, 'the rejected snapshot was not sent again');
});

test('a burst of applies is debounced into a few pushes, the last with the latest content', async (t) => {
  const cp = await startTestControlPlane(t, { push: { debounceMs: 200 } });
  await api(cp.url, 'POST', '/api/v1/apply?file=ratings.yaml', serviceYaml('ratings'));
  const c = await StreamClient.connect(t, cp.url);
  await c.register(registration('productpage-v1-burst', { service: 'productpage' }));
  const before = c.snapshots().length;

  // Ten applies at once, each a different connect timeout for ratings.
  const applies = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      api(cp.url, 'POST', `/api/v1/apply?file=p${i}.yaml`, policyYaml('ratings', `${i + 1}s`)),
    ),
  );
  assert.ok(applies.every((r) => r.status === 200));
  const stored = await api<Resource>(cp.url, 'GET', '/api/v1/resources/TrafficPolicy/default/ratings-policy');
  const latest = stored.body.kind === 'TrafficPolicy' ? stored.body.spec.connectTimeout : undefined;
  assert.ok(latest !== undefined);

  const last = await waitFor('a snapshot with the stored timeout', () => {
    const snaps = c.snapshots();
    const s = snaps.at(-1);
    return s !== undefined && clusterOf(s, 'outbound:ratings.default')?.connectTimeout === latest && s;
  });
  const received = c.snapshots().length - before;
  assert.ok(received >= 1 && received <= 3, `10 applies made ${received} pushes`);
  assert.equal(
    last.version,
    String((await api<{ revision: number }>(cp.url, 'GET', '/api/v1/health')).body.revision),
  );

  const versions = c.snapshots().map((s) => Number(s.version));
  for (let i = 1; i < versions.length; i++)
    assert.ok(versions[i]! > versions[i - 1]!, `versions ${versions}`);
});

test('an apply that leaves a proxy snapshot unchanged sends that proxy nothing', async (t) => {
  const cp = await startTestControlPlane(t);
  const pushes: { revision: number; sent: number }[] = [];
  cp.push.onPushed = (p) => pushes.push(p);

  const scoped = await StreamClient.connect(t, cp.url);
  const scopedReg = registration('reviews-v1-scoped');
  const first = await scoped.register(scopedReg, { scope: ['reviews'] });
  const all = await StreamClient.connect(t, cp.url);
  const allReg = registration('productpage-v1-all', { service: 'productpage' });
  await all.register(allReg);
  assert.equal(clusterOf(first, 'outbound:productpage.default'), undefined, 'out of scope');

  // A service the scoped proxy does not call: only the other proxy hears of it.
  const scopedCount = scoped.snapshots().length;
  const allCount = all.snapshots().length;
  await api(cp.url, 'POST', '/api/v1/apply?file=ratings.yaml', serviceYaml('ratings'));
  const news = await all.nextSnapshot(allCount);
  await waitFor('the push to finish', () => pushes.some((p) => p.revision >= Number(news.version)));
  assert.equal(scoped.snapshots().length, scopedCount);
  assert.equal((await proxyStatus(cp.url, scopedReg.name))?.sent, scoped.snapshots().at(-1)?.version);
  assert.equal((await proxyStatus(cp.url, allReg.name))?.sent, news.version);

  // Re-applying the same thing changes nothing at all: no push to anyone.
  const allNow = all.snapshots().length;
  const again = await api<{ results: { action: string }[] }>(
    cp.url,
    'POST',
    '/api/v1/apply',
    serviceYaml('ratings'),
  );
  assert.equal(again.body.results[0]?.action, 'unchanged');

  // A change to reviews reaches the scoped proxy too.
  await api(cp.url, 'POST', '/api/v1/apply?file=policy.yaml', policyYaml('reviews', '7s'));
  const changed = await scoped.nextSnapshot(scopedCount);
  assert.equal(clusterOf(changed, 'outbound:reviews.default')?.connectTimeout, 7000);
  const allChanged = await all.nextSnapshot(allNow);
  assert.equal(clusterOf(allChanged, 'outbound:reviews.default')?.connectTimeout, 7000);
  assert.equal(all.snapshots().length, allNow + 1, 'one push for the policy, none for the re-apply');
});

/** A TrafficRoute for reviews of about 400 KB, different each round. */
function heavyRoute(round: number): string {
  const filler = 'x'.repeat(2000);
  const routes = Array.from(
    { length: 200 },
    (_, i) =>
      `    - name: r${i}\n      match: { headers: [{ name: x-round, exact: "${round}-${i}-${filler}" }] }\n      backends: [{ service: reviews }]`,
  );
  return `apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: heavy }
spec:
  service: reviews
  routes:
${routes.join('\n')}
`;
}

test('a proxy that stops reading its stream is cut off; pushes to the others go on', async (t) => {
  // Heartbeats long enough that only the stuck send can explain the stuck proxy leaving.
  const cp = await startTestControlPlane(t, {
    // A send timeout a live reader meets even on a loaded CI machine (at 300 ms the good proxy was
    // sometimes cut off too, mid-way through a big snapshot).
    push: { debounceMs: 10, sendTimeoutMs: 2000, heartbeatMs: 60_000 },
  });
  // An explicit Service: reviews (and its routes) outlive the stuck proxy, its only workload; an
  // implied one would vanish with it, and so would the route each round looks for.
  await api(cp.url, 'POST', '/api/v1/apply?file=reviews.yaml', serviceYaml('reviews'));
  const stuck = await StreamClient.connect(t, cp.url);
  const stuckReg = registration('reviews-v1-stuck');
  await stuck.register(stuckReg);
  stuck.ws.pause(); // connected, never reads again: the socket's buffers fill up
  const good = await StreamClient.connect(t, cp.url);
  await good.register(registration('productpage-v1-good', { service: 'productpage' }));

  const listed = async (): Promise<boolean> =>
    (await proxyStatuses(cp.url)).some((p) => p.workload === stuckReg.name);
  let rounds = 0;
  for (; rounds < 60 && (await listed()); rounds++) {
    const count = good.snapshots().length;
    assert.equal(
      (await api(cp.url, 'POST', '/api/v1/apply?file=heavy.yaml', heavyRoute(rounds))).status,
      200,
    );
    // Other changes (the stuck proxy's registration or removal) may push first, or carry this
    // round's change with them: wait for a snapshot with this round's route, however it came.
    await waitFor(
      `round ${rounds}'s route`,
      () =>
        good
          .snapshots()
          .slice(count)
          .some((snap) => heavyMatch(snap).includes(`"exact":"${rounds}-0-`)),
      20_000,
    );
  }
  assert.ok(!(await listed()), `the stuck proxy is still connected after ${rounds} rounds`);
  assert.ok(rounds > 1, 'it took a few snapshots before its buffers filled');
  // The good one got every round.
  await api(cp.url, 'POST', '/api/v1/apply?file=heavy.yaml', heavyRoute(1000));
  await waitFor(
    'the last round',
    () => good.snapshots().some((snap) => heavyMatch(snap).includes('"exact":"1000-0-')),
    20_000,
  );
});

/** The first route match of reviews in a snapshot's outbound table, as JSON ('' when none). */
function heavyMatch(snap: { config: unknown }): string {
  const vh = ProxyConfig.parse(snap.config)
    .routeTables.find((rt) => rt.name === 'outbound')
    ?.virtualHosts.find((v) => v.name === 'reviews.default');
  return JSON.stringify(vh?.routes[0]?.match) ?? '';
}
