// Runs against a real etcd (Debian's etcd-server, installed by scripts/system-deps.sh) on loopback ports.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { startEtcd, type TestEtcd } from '../../test/support/etcd.ts';
import { storeConformance } from './conformance.ts';
import { record, rejectsWithCode, summary } from './conformance-support.ts';
import { openEtcdStore, type EtcdStoreOptions } from './etcd-store.ts';
import { openStore } from './index.ts';

let etcd: TestEtcd | undefined;
// A missing etcd binary fails here, with the message that says to run scripts/system-deps.sh.
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

function endpoint(): string {
  assert.ok(etcd, 'etcd did not start (see the before hook)');
  return etcd.endpoint;
}

storeConformance('etcd', async () => {
  // A fresh prefix per test on the one etcd: tests do not see each other's keys.
  const opts: EtcdStoreOptions = { endpoints: [endpoint()], prefix: `/trellis-test/${randomUUID()}/` };
  const store = await openEtcdStore(opts);
  return {
    store,
    cleanup: async () => undefined, // the whole etcd goes away after the file
    another: { concurrent: true, open: () => openEtcdStore(opts) },
    compact: (revision) => store.compact(revision),
  };
});

test('keys live under the prefix (default /trellis/) as JSON', async (t) => {
  const store = await openStore({ etcd: [endpoint()] });
  t.after(() => store.close());
  assert.equal(store.kind, 'etcd');
  await store.put('resources/Service/default/web', { port: 80, name: 'wéb' });
  const raw = new Etcd3({ hosts: [endpoint()] });
  t.after(() => raw.close());
  assert.deepEqual(await raw.get('/trellis/resources/Service/default/web').json(), { port: 80, name: 'wéb' });
  await raw.put('/trellis/raw').value('not json');
  assert.equal((await store.get('raw'))?.value, 'not json');
});

test('an unreachable etcd gives TRELLIS_STORE_UNAVAILABLE with an actionable message', async () => {
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
  const at = `http://127.0.0.1:${closedPort}`;
  await assert.rejects(openEtcdStore({ endpoints: [at] }), (err: unknown) => {
    assert.ok(err instanceof Error && 'code' in err);
    assert.equal(err.code, 'TRELLIS_STORE_UNAVAILABLE');
    assert.ok(err.message.startsWith(`cannot reach etcd at ${at} — is it running?`), err.message);
    return true;
  });
});

test('an etcd that goes away after open turns calls into TRELLIS_STORE_UNAVAILABLE', async (t) => {
  const own = await startEtcd();
  t.after(() => own.stop());
  const store = await openEtcdStore({ endpoints: [own.endpoint], callTimeoutMs: 2000 });
  t.after(() => store.close());
  await store.put('k', 1);
  await own.stop();
  await rejectsWithCode(store.get('k'), 'TRELLIS_STORE_UNAVAILABLE');
  await rejectsWithCode(store.keepAlive('123'), 'TRELLIS_STORE_UNAVAILABLE');
});

test('a watch survives an etcd restart and delivers what was written while it reconnected', async (t) => {
  const own = await startEtcd();
  t.after(() => own.stop());
  const store = await openEtcdStore({ endpoints: [own.endpoint] });
  t.after(() => store.close());
  const w = record(t, store, 'rs/', (await store.list('')).revision);
  const r1 = await store.put('rs/1', 1);
  await w.waitEvents(1);
  await own.restart();
  // A separate client writes while the store's watch is still reconnecting.
  const writer = await openEtcdStore({ endpoints: [own.endpoint] });
  t.after(() => writer.close());
  const r2 = await writer.put('rs/2', 2);
  const r3 = await writer.put('rs/3', 3);
  assert.deepEqual(summary(await w.waitEvents(3, 15_000)), [
    `put rs/1@${r1}`,
    `put rs/2@${r2}`,
    `put rs/3@${r3}`,
  ]);
  assert.deepEqual(w.errors, []);
});
