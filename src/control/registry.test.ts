import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyConfig } from '../model/schema.ts';
import type { Resource } from '../resources/kinds.ts';
import type { WatchEvent } from '../store/types.ts';
import type { ProxyStatus } from './push-server.ts';
import { workloadKey } from './registry.ts';
import {
  api,
  registration,
  startTestControlPlane,
  StreamClient,
  waitFor,
  type TestControlPlane,
} from './testing.ts';
import type { WorkloadRegistration } from './protocol.ts';

/** The stored Workload, or undefined once it is gone. */
async function stored(cp: TestControlPlane, reg: WorkloadRegistration): Promise<Resource | undefined> {
  const res = await api<Resource>(cp.url, 'GET', `/api/v1/resources/Workload/${reg.namespace}/${reg.name}`);
  return res.status === 200 ? res.body : undefined;
}

async function readyOf(cp: TestControlPlane, reg: WorkloadRegistration): Promise<boolean | undefined> {
  const w = await stored(cp, reg);
  return w?.kind === 'Workload' ? w.spec.ready : undefined;
}

test('bye removes the workload at once, long before it would go stale', async (t) => {
  const cp = await startTestControlPlane(t, { registry: { staleMs: 60_000 } });
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v1-bye');
  await c.register(reg);
  assert.ok(await stored(cp, reg));

  c.send({ type: 'bye' });
  assert.equal((await c.waitClosed()).code, 1000);
  await waitFor('the workload to be removed', async () => (await stored(cp, reg)) === undefined, 2000);
  assert.deepEqual((await api<{ items: ProxyStatus[] }>(cp.url, 'GET', '/api/v1/proxies')).body.items, []);
});

test('a workload whose sidecar stops heartbeating (stream kept open) is removed within staleMs', async (t) => {
  const staleMs = 400;
  // Heartbeat interval long enough that the stream itself is not reaped during the test.
  const cp = await startTestControlPlane(t, { registry: { staleMs }, push: { heartbeatMs: 5000 } });
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v1-silent');
  await c.register(reg);

  // Heartbeats for longer than staleMs keep it registered.
  for (let i = 0; i < 6; i++) {
    c.send({ type: 'status', ready: true });
    await sleep(staleMs / 4);
  }
  assert.equal(await readyOf(cp, reg), true);

  const stopped = Date.now();
  await waitFor('the silent workload to be removed', async () => (await stored(cp, reg)) === undefined, 5000);
  const took = Date.now() - stopped;
  assert.ok(took <= staleMs + 1500, `removed ${took}ms after the last heartbeat (staleMs ${staleMs})`);
  assert.equal(c.ws.readyState, c.ws.OPEN, 'the stream was left open');

  // It speaks again: back in the mesh, without reconnecting.
  c.send({ type: 'status', ready: true });
  await waitFor('the workload to be registered again', async () => (await readyOf(cp, reg)) === true);
});

test('a proxy whose stream died is removed within staleMs; a silent stream is reaped', async (t) => {
  const staleMs = 400;
  const cp = await startTestControlPlane(t, { registry: { staleMs }, push: { heartbeatMs: 100 } });

  const dead = await StreamClient.connect(t, cp.url);
  const deadReg = registration('reviews-v1-dead');
  await dead.register(deadReg);
  dead.ws.terminate();
  const gone = Date.now();
  await waitFor('the dead workload to be removed', async () => (await stored(cp, deadReg)) === undefined);
  assert.ok(Date.now() - gone <= staleMs + 1500);

  // A peer that never closes its socket but sends nothing is cut off after 3 heartbeat intervals.
  const mute = await StreamClient.connect(t, cp.url);
  await mute.register(registration('ratings-v1-mute', { service: 'ratings' }));
  const closed = await mute.waitClosed(3000);
  assert.equal(closed.code, 1006, 'terminated, not closed politely');
});

test('readiness reported in status updates the stored Workload and the endpoint peers see', async (t) => {
  const cp = await startTestControlPlane(t);
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v1-ready', { ready: false });
  await c.register(reg);
  assert.equal(await readyOf(cp, reg), false);

  const peer = await StreamClient.connect(t, cp.url);
  await peer.register(registration('productpage-v1-peer', { service: 'productpage' }));
  const healthy = async (): Promise<boolean | undefined> => {
    const last = peer.snapshots().at(-1);
    if (last === undefined) return undefined;
    const cluster = ProxyConfig.parse(last.config).clusters.find(
      (k) => k.name === 'outbound:reviews.default',
    );
    return cluster?.endpoints.find((e) => e.port === reg.spec.ports.inbound)?.healthy;
  };
  assert.equal(await healthy(), false);

  c.send({ type: 'status', ready: true });
  await waitFor('ready=true in the store', async () => (await readyOf(cp, reg)) === true);
  await waitFor('a healthy endpoint at the peer', async () => (await healthy()) === true);

  c.send({ type: 'status', ready: false });
  await waitFor('ready=false in the store', async () => (await readyOf(cp, reg)) === false);
  await waitFor('an unhealthy endpoint at the peer', async () => (await healthy()) === false);
});

test('re-registering after a reconnect keeps the same workload: no delete in between', async (t) => {
  const cp = await startTestControlPlane(t, { registry: { staleMs: 5000 } });
  const reg = registration('reviews-v1-again');
  const key = workloadKey(reg.namespace, reg.name);
  const { revision } = await cp.store.list('resources/');
  const events: WatchEvent[] = [];
  const cancel = cp.store.watch('resources/Workload/', revision, (evs) => events.push(...evs));
  t.after(cancel);

  const first = await StreamClient.connect(t, cp.url);
  await first.register(reg);
  first.send({ type: 'status', ready: true });
  await waitFor('ready=true', async () => (await readyOf(cp, reg)) === true);
  first.ws.terminate();
  await first.waitClosed();

  const second = await StreamClient.connect(t, cp.url);
  await second.register({ ...reg, spec: { ...reg.spec, ready: true } });
  await waitFor('the proxy listed again', async () => {
    const items = (await api<{ items: ProxyStatus[] }>(cp.url, 'GET', '/api/v1/proxies')).body.items;
    return items.length === 1 && items[0]?.workload === reg.name;
  });
  const lastPut = await cp.store.get(key);
  await waitFor('the watch to catch up', () =>
    events.some((e) => e.type === 'put' && e.entry.revision === lastPut?.revision),
  );
  const mine = events.filter((e) => (e.type === 'put' ? e.entry.key : e.key) === key);
  assert.ok(mine.length >= 2);
  assert.deepEqual(
    mine.filter((e) => e.type === 'delete'),
    [],
    'the endpoint never left the mesh',
  );
  assert.equal(await readyOf(cp, reg), true);
});
