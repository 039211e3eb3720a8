// Lease behaviour of the store conformance suite (see conformance.ts). TTLs are 1 s to keep it short.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixture, record, rejectsWithCode, type OpenFixture } from './conformance-support.ts';

/** The suite's promise: a lease's keys are gone within its TTL plus this much. */
const EXPIRY_GRACE_MS = 2000;

export function leaseConformance(open: OpenFixture): void {
  test('an expired lease deletes its keys, with delete events, within ttl + 2 s', async (t) => {
    const { store } = await fixture(t, open);
    const lease = await store.grantLease(1);
    await store.put('l/a', 'a', { lease });
    await store.put('l/b', 'b', { lease });
    await store.put('l/free', 'stays');
    assert.equal((await store.get('l/a'))?.lease, lease);
    assert.equal((await store.get('l/free'))?.lease, undefined);
    const w = record(t, store, 'l/', (await store.list('')).revision);
    const events = await w.waitEvents(2, 1000 + EXPIRY_GRACE_MS);
    assert.deepEqual(events.map((e) => (e.type === 'delete' ? e.key : `put ${e.entry.key}`)).sort(), [
      'l/a',
      'l/b',
    ]);
    for (const e of events) assert.ok(e.type === 'delete' && e.previous?.lease === lease);
    assert.deepEqual(
      (await store.list('l/')).entries.map((e) => e.key),
      ['l/free'],
    );
    assert.equal(await store.keepAlive(lease), false);
  });

  test('keepAlive restarts the TTL; without it the lease then expires', async (t) => {
    const { store } = await fixture(t, open);
    const lease = await store.grantLease(1);
    await store.put('ka/k', 1, { lease });
    // 2.4 s of keep-alives, well past the 1 s TTL.
    for (let i = 0; i < 8; i++) {
      await sleep(300);
      assert.equal(await store.keepAlive(lease), true, `keep-alive ${i}`);
      assert.notEqual(await store.get('ka/k'), undefined, `key alive after keep-alive ${i}`);
    }
    const w = record(t, store, 'ka/', (await store.list('')).revision);
    const [gone] = await w.waitEvents(1, 1000 + EXPIRY_GRACE_MS);
    assert.ok(gone?.type === 'delete' && gone.key === 'ka/k');
  });

  test('revokeLease deletes the keys at once with delete events; revoking again is harmless', async (t) => {
    const { store } = await fixture(t, open);
    const lease = await store.grantLease(60);
    await store.put('rv/1', 1, { lease });
    await store.put('rv/2', 2, { lease });
    const before = (await store.list('')).revision;
    const w = record(t, store, 'rv/', before);
    await store.revokeLease(lease);
    assert.deepEqual((await store.list('rv/')).entries, []);
    const events = await w.waitEvents(2);
    assert.deepEqual(
      events.map((e) => e.type),
      ['delete', 'delete'],
    );
    for (const e of events) assert.ok(e.type === 'delete' && e.revision > before);
    assert.equal(await store.keepAlive(lease), false);
    await store.revokeLease(lease);
  });

  test('an unknown lease: keepAlive is false, put with it is refused', async (t) => {
    const { store } = await fixture(t, open);
    const lease = await store.grantLease(60);
    await store.revokeLease(lease);
    assert.equal(await store.keepAlive(lease), false);
    assert.equal(await store.keepAlive('123456789'), false);
    assert.equal(await store.keepAlive('no such lease'), false);
    await rejectsWithCode(store.put('k', 1, { lease }), 'TRELLIS_STORE_LEASE_NOT_FOUND');
    await rejectsWithCode(store.put('k', 1, { lease: 'no such lease' }), 'TRELLIS_STORE_LEASE_NOT_FOUND');
    assert.equal(await store.get('k'), undefined);
    await rejectsWithCode(store.grantLease(0), 'TRELLIS_STORE_INVALID_ARGUMENT');
  });

  test('a put without a lease detaches the key from its lease', async (t) => {
    const { store } = await fixture(t, open);
    const lease = await store.grantLease(60);
    await store.put('d/k', 1, { lease });
    await store.put('d/k', 2);
    assert.equal((await store.get('d/k'))?.lease, undefined);
    await store.revokeLease(lease);
    assert.equal((await store.get('d/k'))?.value, 2);
  });
}
