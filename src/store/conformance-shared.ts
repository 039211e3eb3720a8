// Two Store instances on the same backing data (see conformance.ts): a restart for every store, and two
// live instances for stores that allow it (what two control-plane replicas on one etcd rely on).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture, record, rejectsWithCode, summary, type OpenFixture } from './conformance-support.ts';

export function sharedConformance(open: OpenFixture): void {
  test('after a restart the data, the revision, leases and history are all still there', async (t) => {
    const fx = await fixture(t, open);
    if (!fx.another) return t.skip('this fixture cannot open a second instance');
    const first = fx.store;
    const r0 = (await first.list('')).revision;
    await first.put('keep/a', { x: [1, 'ü'] });
    const lease = await first.grantLease(60);
    await first.put('keep/l', 'leased', { lease });
    const r3 = await first.put('keep/b', 'b');
    await first.close();

    const second = await fx.another.open();
    fx.extra.push(second);
    assert.deepEqual((await second.get('keep/a'))?.value, { x: [1, 'ü'] });
    const listed = await second.list('keep/');
    assert.deepEqual(
      listed.entries.map((e) => e.key),
      ['keep/a', 'keep/b', 'keep/l'],
    );
    assert.ok(listed.revision >= r3);
    const r4 = await second.put('keep/c', 'c');
    assert.ok(r4 > r3);
    assert.equal(await second.keepAlive(lease), true);
    assert.equal((await second.get('keep/l'))?.lease, lease);
    const replay = record(t, second, 'keep/', r0);
    assert.deepEqual(summary(await replay.waitEvents(4)).slice(2), [`put keep/b@${r3}`, `put keep/c@${r4}`]);
  });

  test('two live instances see each other’s writes, watches, conflicts and leases', async (t) => {
    const fx = await fixture(t, open);
    if (!fx.another?.concurrent) return t.skip('this store does not allow two live instances');
    const a = fx.store;
    const b = await fx.another.open();
    fx.extra.push(b);
    const from = (await a.list('')).revision;
    const seenByB = record(t, b, 'r/', from);
    const seenByA = record(t, a, 'r/', from);

    const r1 = await a.put('r/from-a', 'a');
    assert.equal((await b.get('r/from-a'))?.value, 'a');
    assert.deepEqual(summary(await seenByB.waitEvents(1)), [`put r/from-a@${r1}`]);
    const r2 = await b.put('r/from-b', 'b');
    assert.equal((await a.get('r/from-b'))?.value, 'b');
    assert.deepEqual(summary(await seenByA.waitEvents(2)), [`put r/from-a@${r1}`, `put r/from-b@${r2}`]);

    await a.put('r/cas', 1, { ifRevision: 0 });
    await rejectsWithCode(b.put('r/cas', 2, { ifRevision: 0 }), 'TRELLIS_STORE_CONFLICT');

    // A sidecar's lease survives moving to another replica: b keeps alive and revokes what a granted.
    const lease = await a.grantLease(60);
    await a.put('r/leased', 'x', { lease });
    assert.equal(await b.keepAlive(lease), true);
    await b.revokeLease(lease);
    assert.equal(await a.get('r/leased'), undefined);
    const events = await seenByA.waitEvents(5);
    assert.deepEqual(
      events.slice(3).map((e) => (e.type === 'delete' ? `del ${e.key}` : `put ${e.entry.key}`)),
      ['put r/leased', 'del r/leased'],
    );
  });
}
