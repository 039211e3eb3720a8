import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfig } from '../model/schema.ts';
import type { Resource } from '../resources/kinds.ts';
import { CloseCode } from './protocol.ts';
import {
  api,
  policyYaml,
  proxyStatus,
  proxyStatuses,
  registration,
  serviceYaml,
  startTestControlPlane,
  StreamClient,
  waitFor,
  type SnapshotMessage,
} from './testing.ts';

function clusterOf(snap: SnapshotMessage, name: string): ProxyConfig['clusters'][number] | undefined {
  return ProxyConfig.parse(snap.config).clusters.find((c) => c.name === name);
}

/** The refusal a client got: the error message's code, and the close code. */
async function refusal(c: StreamClient): Promise<{ code: string; close: number }> {
  const { code } = await c.waitClosed();
  const err = c.messages.find((m) => m.type === 'error');
  return { code: err?.type === 'error' ? err.code : '(no error message)', close: code };
}

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

test('a client sending garbage is told why and closed (4400); the others keep receiving pushes', async (t) => {
  const cp = await startTestControlPlane(t);
  const good = await StreamClient.connect(t, cp.url);
  const goodReg = registration('productpage-v1-good', { service: 'productpage' });
  await good.register(goodReg);

  const garbage: [string, (c: StreamClient) => void][] = [
    ['not JSON', (c) => c.ws.send('{"type": "hello", oops')],
    ['an unknown message type', (c) => c.send({ type: 'gimme-config' })],
    ['a binary frame', (c) => c.ws.send(Buffer.from([0, 1, 2, 3]), { binary: true })],
    ['an ACK before hello', (c) => c.send({ type: 'ack', version: '1' })],
    [
      'a hello missing its workload',
      (c) => c.send({ type: 'hello', protocol: 1, proxy: { id: 'x', trellis: '0' } }),
    ],
    ['a hello with an unknown field', (c) => c.send({ type: 'hello', protocol: 1, extra: true })],
    ['JSON that is not an object', (c) => c.ws.send('[1,2,3]')],
    [
      'a second hello',
      (c) => {
        const reg = registration('ratings-v1-twice', { service: 'ratings' });
        c.hello(reg);
        c.hello(reg);
      },
    ],
    [
      'garbage after a good hello',
      (c) => {
        c.hello(registration('ratings-v1-later', { service: 'ratings' }));
        c.ws.send('\u0000\u0001 not a message');
      },
    ],
  ];
  for (const [what, act] of garbage) {
    const bad = await StreamClient.connect(t, cp.url);
    act(bad);
    assert.deepEqual(
      await refusal(bad),
      { code: 'TRELLIS_BAD_STREAM_MESSAGE', close: CloseCode.badMessage },
      what,
    );
  }

  // The good client is still connected, listed, and receives the next push.
  await api(cp.url, 'POST', '/api/v1/apply?file=ratings.yaml', serviceYaml('ratings'));
  await waitFor(
    'a push with the new ratings Service',
    () => good.snapshots().some((snap) => clusterOf(snap, 'outbound:ratings.default') !== undefined),
    20_000,
  );
  const listed = (await proxyStatuses(cp.url)).map((p) => p.workload);
  assert.ok(listed.includes(goodReg.name));
  assert.ok(!listed.includes('ratings-v1-twice'));
});

test('a client that says nothing is closed at the hello deadline', async (t) => {
  const cp = await startTestControlPlane(t, { push: { helloTimeoutMs: 150 } });
  const silent = await StreamClient.connect(t, cp.url);
  assert.deepEqual(await refusal(silent), {
    code: 'TRELLIS_BAD_STREAM_MESSAGE',
    close: CloseCode.badMessage,
  });
  const err = silent.messages.find((m) => m.type === 'error');
  assert.match(err?.type === 'error' ? err.message : '', /no hello/);

  // One that says hello in time stays.
  const prompt = await StreamClient.connect(t, cp.url);
  await prompt.register(registration('reviews-v1-prompt'));
  assert.equal(prompt.ws.readyState, prompt.ws.OPEN);
  assert.equal((await proxyStatuses(cp.url)).length, 1);
});

test('a proxy speaking another protocol version is refused and not registered', async (t) => {
  const cp = await startTestControlPlane(t);
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v9-future');
  c.hello(reg, { protocol: 99 });
  assert.deepEqual(await refusal(c), { code: 'TRELLIS_PROTOCOL_MISMATCH', close: CloseCode.badMessage });
  assert.equal((await api(cp.url, 'GET', `/api/v1/resources/Workload/default/${reg.name}`)).status, 404);
});

test('an address and port owned by another workload is refused (TRELLIS_ADDRESS_IN_USE, 4409)', async (t) => {
  const cp = await startTestControlPlane(t);
  const owner = await StreamClient.connect(t, cp.url);
  const ownerReg = registration('reviews-v1-owner');
  await owner.register(ownerReg);

  const thief = await StreamClient.connect(t, cp.url);
  thief.hello(registration('ratings-v1-thief', { service: 'ratings', inbound: ownerReg.spec.ports.inbound }));
  assert.deepEqual(await refusal(thief), { code: 'TRELLIS_ADDRESS_IN_USE', close: CloseCode.refused });
  const err = thief.messages.find((m) => m.type === 'error');
  assert.match(err?.type === 'error' ? err.message : '', /default\/reviews-v1-owner/);

  // The message names the port two workloads share, here the owner's app port as a thief's inbound.
  const appThief = await StreamClient.connect(t, cp.url);
  appThief.hello(registration('ratings-v1-app', { service: 'ratings', inbound: ownerReg.spec.ports.app }));
  assert.deepEqual(await refusal(appThief), { code: 'TRELLIS_ADDRESS_IN_USE', close: CloseCode.refused });
  const appErr = appThief.messages.find((m) => m.type === 'error');
  assert.match(
    appErr?.type === 'error' ? appErr.message : '',
    new RegExp(`127\\.0\\.0\\.1:${ownerReg.spec.ports.app} `),
  );
  assert.equal((await api(cp.url, 'GET', '/api/v1/resources/Workload/default/ratings-v1-thief')).status, 404);

  // The same port on another address is someone else's business.
  const elsewhere = await StreamClient.connect(t, cp.url);
  await elsewhere.register(
    registration('ratings-v1-elsewhere', {
      service: 'ratings',
      address: '127.0.0.2',
      inbound: ownerReg.spec.ports.inbound,
    }),
  );

  // A Workload applied by hand owns its address too.
  await api(
    cp.url,
    'POST',
    '/api/v1/apply?file=static.yaml',
    `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: legacy-db }
spec: { service: db, serviceAccount: db, address: 10.9.8.7, ports: { inbound: 5432, app: 5433 }, protocol: tcp }
`,
  );
  const squatter = await StreamClient.connect(t, cp.url);
  squatter.hello(registration('db-v2-new', { service: 'db', address: '10.9.8.7', inbound: 5432 }));
  assert.deepEqual(await refusal(squatter), { code: 'TRELLIS_ADDRESS_IN_USE', close: CloseCode.refused });

  // Two proxies claiming one port at the same instant: exactly one gets it.
  const a = await StreamClient.connect(t, cp.url);
  const b = await StreamClient.connect(t, cp.url);
  a.hello(registration('details-v1-a', { service: 'details', inbound: 31_001 }));
  b.hello(registration('details-v1-b', { service: 'details', inbound: 31_001 }));
  const outcome = await waitFor('both answers', () => {
    const first = (c: StreamClient): string | undefined =>
      c.messages.find((m) => m.type !== 'snapshot')?.type;
    const [x, y] = [first(a), first(b)];
    return x !== undefined && y !== undefined && [x, y].sort().join(',');
  });
  assert.equal(outcome, 'error,welcome');
  const owners = (await api<{ items: Resource[] }>(cp.url, 'GET', '/api/v1/resources/Workload')).body.items
    .map((w) => w.metadata.name)
    .filter((n) => n.startsWith('details-'));
  assert.equal(owners.length, 1);

  // The owner was never disturbed.
  assert.equal(owner.ws.readyState, owner.ws.OPEN);
});

test('an invalid workload is refused (TRELLIS_INVALID_WORKLOAD, 4409) and nothing is stored', async (t) => {
  const cp = await startTestControlPlane(t);
  for (const reg of [
    registration('Reviews_V1'),
    registration('reviews-v1-host', { address: 'reviews.example.com' }),
    registration('reviews-v1-ns', { namespace: 'Not A Namespace' }),
  ]) {
    const c = await StreamClient.connect(t, cp.url);
    c.hello(reg);
    assert.deepEqual(
      await refusal(c),
      { code: 'TRELLIS_INVALID_WORKLOAD', close: CloseCode.refused },
      reg.name,
    );
  }
  assert.deepEqual((await cp.store.list('resources/')).entries, []);
  assert.deepEqual(await proxyStatuses(cp.url), []);
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
