// The push stream's refusals: clients that send garbage or nothing, speak another protocol
// version, claim another workload's address, or register an invalid workload.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../resources/kinds.ts';
import { CloseCode } from './protocol.ts';
import {
  api,
  clusterOf,
  proxyStatuses,
  registration,
  serviceYaml,
  startTestControlPlane,
  StreamClient,
  waitFor,
} from './testing.ts';

/** The refusal a client got: the error message's code, and the close code. */
async function refusal(c: StreamClient): Promise<{ code: string; close: number }> {
  const { code } = await c.waitClosed();
  const err = c.messages.find((m) => m.type === 'error');
  return { code: err?.type === 'error' ? err.code : '(no error message)', close: code };
}

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
