import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { storeConformance } from './conformance.ts';
import { record, rejectsWithCode, summary, waitFor } from './conformance-support.ts';
import { openStore } from './index.ts';
import { openSqliteStore } from './sqlite-store.ts';

function tempDir(t?: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-store-'));
  t?.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

storeConformance('sqlite', async () => {
  const dir = tempDir();
  const store = await openSqliteStore(dir);
  return {
    store,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    another: { concurrent: false, open: () => openSqliteStore(dir) },
    compact: async (revision) => store.compact(revision),
  };
});

test('openStore({ dir }) creates the dir and keeps the data in <dir>/store.db', async (t) => {
  const dir = join(tempDir(t), 'nested', '.trellis');
  const store = await openStore({ dir });
  t.after(() => store.close());
  assert.equal(store.kind, 'sqlite');
  await store.put('k', 'v');
  assert.ok(existsSync(join(dir, 'store.db')));
});

test('history is bounded: recent revisions replay, older ones report compaction', async (t) => {
  const store = await openSqliteStore(tempDir(t), { historyRevisions: 10 });
  t.after(() => store.close());
  let last = 0;
  for (let i = 0; i < 50; i++) last = await store.put(`b/${i % 7}`, i);
  const recent = record(t, store, 'b/', last - 5);
  assert.equal((await recent.waitEvents(5)).length, 5);
  const old = record(t, store, 'b/', 1);
  await waitFor('the compaction error', () => old.errors.length > 0);
  assert.equal(old.errors[0]?.code, 'TRELLIS_STORE_COMPACTED');
  assert.deepEqual(old.events, []);
});

test('a restart gives every lease its full TTL again, so sidecars can reconnect', async (t) => {
  const dir = tempDir(t);
  const first = await openSqliteStore(dir);
  const lease = await first.grantLease(1);
  await first.put('w/sidecar', 'up', { lease });
  await first.close();
  await sleep(1500); // the control plane was down for longer than the TTL
  const second = await openSqliteStore(dir);
  t.after(() => second.close());
  await sleep(600); // past a lease check
  assert.equal((await second.get('w/sidecar'))?.lease, lease);
  assert.equal(await second.keepAlive(lease), true);
  // Without keep-alives it then expires as usual.
  const w = record(t, second, 'w/', (await second.list('')).revision);
  assert.deepEqual(
    summary(await w.waitEvents(1, 3000)).map((s) => s.split('@')[0]),
    ['del w/sidecar'],
  );
});

test('one store dir serves one control plane: a second open fails with TRELLIS_STORE_LOCKED', async (t) => {
  const dir = tempDir(t);
  const store = await openSqliteStore(dir);
  await rejectsWithCode(openSqliteStore(dir), 'TRELLIS_STORE_LOCKED');
  // Another process is refused too.
  const url = new URL('./sqlite-store.ts', import.meta.url).href;
  const script = `import { openSqliteStore } from ${JSON.stringify(url)};
    openSqliteStore(process.argv[1]).then(() => console.log('opened'), (e) => console.log(e.code));`;
  const run = () =>
    promisify(execFile)(process.execPath, ['--input-type=module', '-e', script, dir], { timeout: 20_000 });
  assert.equal((await run()).stdout.trim(), 'TRELLIS_STORE_LOCKED');
  await store.close();
  assert.equal((await run()).stdout.trim(), 'opened');
  const again = await openSqliteStore(dir);
  await again.close();
});

test('a closed store refuses work with TRELLIS_STORE_CLOSED', async (t) => {
  const store = await openSqliteStore(tempDir(t));
  await store.close();
  await store.close();
  await rejectsWithCode(store.get('k'), 'TRELLIS_STORE_CLOSED');
  await rejectsWithCode(store.put('k', 1), 'TRELLIS_STORE_CLOSED');
  const w = record(t, store, '', 0);
  await waitFor('the closed error', () => w.errors.length > 0);
  assert.equal(w.errors[0]?.code, 'TRELLIS_STORE_CLOSED');
});
