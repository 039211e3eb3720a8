// One behaviour suite for every Store implementation: sqlite-store.test.ts and etcd-store.test.ts run it.
// Each test opens a fresh fixture, so tests do not see each other's keys or watches.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { leaseConformance } from './conformance-leases.ts';
import { sharedConformance } from './conformance-shared.ts';
import {
  fixture,
  record,
  rejectsWithCode,
  summary,
  waitFor,
  type OpenFixture,
} from './conformance-support.ts';

export type { StoreFixture, OpenFixture } from './conformance-support.ts';

export function storeConformance(name: string, open: OpenFixture): void {
  describe(`store conformance: ${name}`, () => {
    kvConformance(open);
    watchConformance(open);
    leaseConformance(open);
    sharedConformance(open);
  });
}

const VALUES: unknown[] = [
  {
    kind: 'Service',
    spec: { ports: [{ port: 80, name: 'http' }], labels: { app: 'web' } },
    deep: { a: { b: [1, [2]] } },
  },
  'héllo wörld — 服务网格 🌿 e\u0301',
  { 键: 'значение', emoji: '👩‍👩‍👧', quote: '"\'\\\n\t' },
  [1, 'two', null, true, { three: 3.5 }],
  0,
  -12.25,
  false,
  null,
  '',
  {},
];

function kvConformance(open: OpenFixture): void {
  test('put, get, and the entry revisions', async (t) => {
    const { store } = await fixture(t, open);
    assert.ok(store.kind === 'sqlite' || store.kind === 'etcd');
    assert.equal(await store.get('svc/web'), undefined);
    const r1 = await store.put('svc/web', { v: 1 });
    assert.deepEqual(await store.get('svc/web'), {
      key: 'svc/web',
      value: { v: 1 },
      revision: r1,
      createRevision: r1,
    });
    const r2 = await store.put('svc/web', { v: 2 });
    assert.ok(r2 > r1);
    assert.deepEqual(await store.get('svc/web'), {
      key: 'svc/web',
      value: { v: 2 },
      revision: r2,
      createRevision: r1,
    });
  });

  test('values and keys round-trip (nested objects, arrays, scalars, unicode)', async (t) => {
    const { store } = await fixture(t, open);
    for (const [i, value] of VALUES.entries()) {
      const key = `values/${i}/ключ-🔑`;
      await store.put(key, value);
      assert.deepEqual((await store.get(key))?.value, value);
    }
    const { entries } = await store.list('values/');
    assert.deepEqual(
      entries.map((e) => e.value),
      VALUES, // keys values/0/ .. values/9/ sort in index order
    );
  });

  test('a value JSON cannot carry is refused', async (t) => {
    const { store } = await fixture(t, open);
    await rejectsWithCode(store.put('bad', undefined), 'TRELLIS_STORE_INVALID_VALUE');
    await rejectsWithCode(store.put('bad', 10n), 'TRELLIS_STORE_INVALID_VALUE');
    assert.equal(await store.get('bad'), undefined);
  });

  test('delete removes the key once and bumps the revision only when something was deleted', async (t) => {
    const { store } = await fixture(t, open);
    const r1 = await store.put('k', 1);
    assert.equal(await store.delete('k'), true);
    assert.equal(await store.get('k'), undefined);
    const afterDelete = (await store.list('')).revision;
    assert.ok(afterDelete > r1);
    assert.equal(await store.delete('k'), false);
    assert.equal(await store.delete('never-was'), false);
    assert.equal((await store.list('')).revision, afterDelete);
    // A re-created key starts a new life: its create revision is new.
    const r3 = await store.put('k', 2);
    assert.equal((await store.get('k'))?.createRevision, r3);
  });

  test('list matches raw string prefixes, sorted by key, with the store revision', async (t) => {
    const { store } = await fixture(t, open);
    for (const key of ['a/c', 'a/bc', 'b/x', 'a/b/d', 'a/b', 'a/b/c']) await store.put(key, key);
    const last = await store.put('z', 0);
    const keys = async (prefix: string) => (await store.list(prefix)).entries.map((e) => e.key);
    // A prefix is a raw string prefix: callers end folder prefixes with '/'.
    assert.deepEqual(await keys('a/b/'), ['a/b/c', 'a/b/d']);
    assert.deepEqual(await keys('a/b'), ['a/b', 'a/b/c', 'a/b/d', 'a/bc']);
    assert.deepEqual(await keys('a/'), ['a/b', 'a/b/c', 'a/b/d', 'a/bc', 'a/c']);
    assert.deepEqual(await keys('nothing/'), []);
    assert.deepEqual(await keys(''), ['a/b', 'a/b/c', 'a/b/d', 'a/bc', 'a/c', 'b/x', 'z']);
    const listed = await store.list('a/b/');
    assert.equal(listed.revision, last);
    assert.deepEqual(listed.entries[0]?.value, 'a/b/c');
  });

  test('the revision only goes up, across keys and operations', async (t) => {
    const { store } = await fixture(t, open);
    let previous = (await store.list('')).revision;
    for (let i = 0; i < 20; i++) {
      let rev: number;
      if (i % 3 === 2) {
        assert.equal(await store.delete(`k${i - 1}`), true);
        rev = (await store.list('')).revision;
      } else {
        rev = await store.put(`k${i}`, i);
      }
      assert.ok(rev > previous, `revision ${rev} after ${previous}`);
      previous = rev;
    }
  });

  test('ifRevision: 0 means create, a revision means compare-and-set, a mismatch is a conflict', async (t) => {
    const { store } = await fixture(t, open);
    const r1 = await store.put('cas', 'first', { ifRevision: 0 });
    await rejectsWithCode(store.put('cas', 'again', { ifRevision: 0 }), 'TRELLIS_STORE_CONFLICT');
    const r2 = await store.put('cas', 'second', { ifRevision: r1 });
    assert.ok(r2 > r1);
    await rejectsWithCode(store.put('cas', 'stale', { ifRevision: r1 }), 'TRELLIS_STORE_CONFLICT');
    await rejectsWithCode(store.put('missing', 'x', { ifRevision: r2 }), 'TRELLIS_STORE_CONFLICT');
    assert.equal((await store.get('cas'))?.value, 'second');
    assert.equal(await store.get('missing'), undefined);
    await store.delete('cas');
    await store.put('cas', 'reborn', { ifRevision: 0 });
    assert.equal((await store.get('cas'))?.value, 'reborn');
  });
}

function watchConformance(open: OpenFixture): void {
  test('a watch sees puts and deletes under its prefix, in order, with previous values', async (t) => {
    const { store } = await fixture(t, open);
    const from = (await store.list('w/')).revision;
    const w = record(t, store, 'w/', from);
    const r1 = await store.put('w/1', 'a');
    const r2 = await store.put('w/1', 'b');
    await store.put('x/1', 'elsewhere');
    await store.put('w', 'not under w/');
    const r3 = await store.delete('w/1').then(async () => (await store.list('')).revision);
    const events = await w.waitEvents(3);
    assert.deepEqual(summary(events), [`put w/1@${r1}`, `put w/1@${r2}`, `del w/1@${r3}`]);
    const [first, second, third] = events;
    assert.ok(first?.type === 'put' && first.previous === undefined);
    assert.deepEqual(first.entry, { key: 'w/1', value: 'a', revision: r1, createRevision: r1 });
    assert.ok(second?.type === 'put' && second.previous?.value === 'a');
    assert.equal(second.entry.createRevision, r1);
    assert.ok(third?.type === 'delete' && third.previous?.value === 'b');
    assert.deepEqual(w.errors, []);
  });

  test('watch callbacks never run inside put()', async (t) => {
    const { store } = await fixture(t, open);
    let inPut = false;
    let sawInPut = false;
    let calls = 0;
    const cancel = store.watch('s/', (await store.list('')).revision, () => {
      calls++;
      if (inPut) sawInPut = true;
    });
    t.after(cancel);
    inPut = true;
    const p = store.put('s/1', 1);
    inPut = false;
    await p;
    await record(t, store, 's/', 0).waitEvents(1);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls, 1);
    assert.equal(sawInPut, false);
  });

  test('a watch from an old revision replays what followed it, then goes live', async (t) => {
    const { store } = await fixture(t, open);
    const r1 = await store.put('h/a', 1);
    const r2 = await store.put('h/b', 2);
    await store.put('other', 0);
    await store.delete('h/a');
    const r3 = (await store.list('')).revision;
    const w = record(t, store, 'h/', r1);
    assert.deepEqual(summary(await w.waitEvents(2)), [`put h/b@${r2}`, `del h/a@${r3}`]);
    const r4 = await store.put('h/c', 3);
    assert.deepEqual(summary(await w.waitEvents(3)), [`put h/b@${r2}`, `del h/a@${r3}`, `put h/c@${r4}`]);
    // From 0: everything the store holds for the prefix.
    const all = record(t, store, 'h/', 0);
    assert.deepEqual(summary(await all.waitEvents(4)).slice(0, 2), [`put h/a@${r1}`, `put h/b@${r2}`]);
  });

  test('two watchers on the same prefix each get every event', async (t) => {
    const { store } = await fixture(t, open);
    const from = (await store.list('')).revision;
    const [a, b] = [record(t, store, 'p/', from), record(t, store, 'p/', from)];
    const narrow = record(t, store, 'p/only/', from);
    await store.put('p/1', 1);
    await store.put('p/only/2', 2);
    await store.delete('p/1');
    const expected = summary(await a.waitEvents(3));
    assert.deepEqual(summary(await b.waitEvents(3)), expected);
    assert.deepEqual(summary(await narrow.waitEvents(1)), [expected[1]]);
  });

  test('cancel stops the events of that watch only', async (t) => {
    const { store } = await fixture(t, open);
    const from = (await store.list('')).revision;
    const cancelled = record(t, store, 'c/', from);
    const control = record(t, store, 'c/', from);
    await store.put('c/1', 1);
    await cancelled.waitEvents(1);
    cancelled.cancel();
    await store.put('c/2', 2);
    await store.put('c/3', 3);
    await control.waitEvents(3);
    await new Promise((resolve) => setTimeout(resolve, 100)); // any stray delivery would have come by now
    assert.equal(cancelled.events.length, 1);
    assert.deepEqual(cancelled.errors, []);
  });

  test('a watch from a compacted revision reports TRELLIS_STORE_COMPACTED, and a re-list recovers', async (t) => {
    const fx = await fixture(t, open);
    if (!fx.compact) return t.skip('this fixture cannot compact on demand');
    const { store } = fx;
    const r1 = await store.put('old/a', 1);
    await store.put('old/b', 2);
    const r3 = await store.put('old/a', 3);
    await fx.compact(r3);
    const stale = record(t, store, 'old/', r1);
    await waitFor('the compaction error', () => stale.errors.length > 0);
    assert.equal(stale.errors[0]?.code, 'TRELLIS_STORE_COMPACTED');
    assert.deepEqual(stale.events, []);
    const { entries, revision } = await store.list('old/');
    assert.deepEqual(
      entries.map((e) => e.value),
      [3, 2],
    );
    const fresh = record(t, store, 'old/', revision);
    const r4 = await store.put('old/c', 4);
    assert.deepEqual(summary(await fresh.waitEvents(1)), [`put old/c@${r4}`]);
    assert.deepEqual(fresh.errors, []);
  });
}
