import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { openStore } from '../../store/index.ts';
import type { Store } from '../../store/types.ts';
import { tempDir, waitFor } from '../testing.ts';
import { VIP_PREFIX, VirtualIps } from './allocator.ts';
import { parseVipRange } from './range.ts';
import { assignments, FakeSource, openVips } from './testing.ts';

async function sqlite(t: TestContext, dir = tempDir(t)): Promise<Store> {
  const store = await openStore({ dir });
  t.after(() => store.close());
  return store;
}

test('the range: network and broadcast addresses are skipped; bad ranges say what to write', () => {
  assert.deepEqual(parseVipRange('240.240.0.0/16'), {
    cidr: '240.240.0.0/16',
    first: 0xf0f00001,
    last: 0xf0f0fffe,
  });
  assert.equal(parseVipRange('10.0.0.7/32').first, parseVipRange('10.0.0.7/32').last);
  for (const bad of ['240.240.0.1/16', '240.240.0.0', 'fd00::/64', '240.240.0.0/33', '10.0.0.0/4'])
    assert.throws(() => parseVipRange(bad), { code: 'TRELLIS_VIP_RANGE_INVALID' }, bad);
});

test('services get addresses from the range, in order, and keep them across a restart', async (t) => {
  const dir = tempDir(t);
  const first = await openStore({ dir });
  const source = new FakeSource(['reviews.default', 'ratings.default', 'db.shop']);
  const vips = await VirtualIps.open(first, source, { debounceMs: 1 });
  await vips.idle();
  const before = assignments(vips);
  // In the order the source lists them (the control plane's is sorted by name).
  assert.deepEqual(before, [
    'db.shop=240.240.0.3',
    'ratings.default=240.240.0.2',
    'reviews.default=240.240.0.1',
  ]);
  vips.close();
  await first.close();

  // Another control plane on the same store, with one more service: the old ones keep theirs.
  const store = await sqlite(t, dir);
  source.set(['web.default', 'reviews.default', 'ratings.default', 'db.shop']);
  const again = await openVips(t, store, source);
  assert.deepEqual(assignments(again), [...before, 'web.default=240.240.0.4']);
});

test('a deleted service gives its address back only to itself; others get never-used ones', async (t) => {
  const store = await sqlite(t);
  const source = new FakeSource(['a.default', 'b.default']);
  const vips = await openVips(t, store, source);
  assert.deepEqual(assignments(vips), ['a.default=240.240.0.1', 'b.default=240.240.0.2']);

  source.set(['b.default']);
  await waitFor('a released', () => vips.addressOf('a.default') === undefined);
  await vips.idle();
  const released = (await store.get(`${VIP_PREFIX}240.240.0.1`))?.value as { service: string; state: string };
  assert.deepEqual([released.service, released.state], ['a.default', 'released']);
  source.set(['b.default', 'c.default']);
  await waitFor('c bound', () => vips.addressOf('c.default'));
  assert.equal(vips.addressOf('c.default'), '240.240.0.3', 'not the address a.default had');

  source.set(['a.default', 'b.default', 'c.default']);
  await waitFor('a back', () => vips.addressOf('a.default'));
  assert.equal(vips.addressOf('a.default'), '240.240.0.1', 'its own address again');
});

test('a view older than a binding does not release it (another replica saw the service first)', async (t) => {
  const store = await sqlite(t);
  const source = new FakeSource(['a.default']);
  const vips = await openVips(t, store, source);
  const bound = await store.get(`${VIP_PREFIX}240.240.0.1`);
  assert.ok(bound);
  // This replica's view lags behind the binding: it does not know a.default yet.
  const lagging = new FakeSource([]);
  lagging.revision = bound.revision - 1;
  const other = await openVips(t, store, lagging);
  assert.equal(other.addressOf('a.default'), undefined);
  assert.equal(((await store.get(`${VIP_PREFIX}240.240.0.1`))?.value as { state: string }).state, 'bound');
  assert.equal(vips.addressOf('a.default'), '240.240.0.1');
});

test('spec.clusterIP is the address; None is none; a taken one is TRELLIS_VIP_CONFLICT', async (t) => {
  const store = await sqlite(t);
  const problems: string[] = [];
  const source = new FakeSource([
    { service: 'legacy.default', clusterIP: '10.96.0.10' },
    // Inside the range: reserved before any allocation could take it.
    { service: 'pinned.default', clusterIP: '240.240.0.1' },
    { service: 'headless.default', clusterIP: 'None' },
    { service: 'auto.default', clusterIP: '' },
  ]);
  const vips = await openVips(t, store, source, { onProblem: (s, p) => problems.push(`${s} ${p.code}`) });
  assert.deepEqual(assignments(vips), [
    'auto.default=240.240.0.2',
    'legacy.default=10.96.0.10',
    'pinned.default=240.240.0.1',
  ]);

  source.set([...source.services, { service: 'copycat.default', clusterIP: '10.96.0.10' }]);
  await waitFor('the conflict', () => vips.problemOf('copycat.default'));
  assert.equal(vips.problemOf('copycat.default')?.code, 'TRELLIS_VIP_CONFLICT');
  assert.match(vips.problemOf('copycat.default')?.message ?? '', /10\.96\.0\.10 .*legacy\.default/);
  assert.equal(vips.addressOf('copycat.default'), undefined);
  assert.deepEqual(problems, ['copycat.default TRELLIS_VIP_CONFLICT']);

  // A Service that now names a clusterIP moves there; its allocated address is released.
  source.set([
    ...source.services.filter((d) => d.service !== 'auto.default'),
    { service: 'auto.default', clusterIP: '10.96.0.11' },
  ]);
  await waitFor('auto moved', () => vips.addressOf('auto.default') === '10.96.0.11');
  await vips.idle();
  assert.equal(((await store.get(`${VIP_PREFIX}240.240.0.2`))?.value as { state: string }).state, 'released');
});

test('an exhausted range: a clear code, the service simply has no address; a freed one is reused', async (t) => {
  const store = await sqlite(t);
  // A /30 holds two addresses.
  const source = new FakeSource(['a.default', 'b.default', 'c.default']);
  const vips = await openVips(t, store, source, { range: '10.0.0.0/30' });
  assert.deepEqual(assignments(vips), ['a.default=10.0.0.1', 'b.default=10.0.0.2']);
  assert.equal(vips.problemOf('c.default')?.code, 'TRELLIS_VIP_RANGE_EXHAUSTED');
  assert.match(vips.problemOf('c.default')?.message ?? '', /10\.0\.0\.0\/30.*--vip-range/);

  // Full, so the address a.default leaves is the one to reuse.
  source.set(['b.default', 'c.default']);
  await waitFor('c bound', () => vips.addressOf('c.default'));
  assert.equal(vips.addressOf('c.default'), '10.0.0.1');
  assert.equal(vips.problemOf('c.default'), undefined);
});

test('two allocators on one store, racing for the same and for different services: no address twice', async (t) => {
  const store = countingConflicts(await sqlite(t));
  const services = Array.from({ length: 60 }, (_, i) => `svc${i}.ns${i % 3}`);
  // Each replica sees the services in its own order, so they race for every address.
  const a = new FakeSource(services);
  const b = new FakeSource([...services].reverse());
  const [x, y] = await Promise.all([
    VirtualIps.open(store, a, { debounceMs: 1 }),
    VirtualIps.open(store, b, { debounceMs: 1 }),
  ]);
  t.after(() => {
    x.close();
    y.close();
  });
  await waitFor('both settled on every service', async () => {
    await Promise.all([x.idle(), y.idle()]);
    return x.addresses().size === services.length && assignments(x).join() === assignments(y).join();
  });
  const addresses = [...x.addresses().values()];
  assert.equal(new Set(addresses).size, services.length, 'one address, one service');
  // What the store holds agrees: every bound record names a distinct service.
  const { entries } = await store.list(VIP_PREFIX);
  const bound = entries
    .map((e) => e.value as { service: string; state: string })
    .filter((v) => v.state === 'bound');
  assert.equal(new Set(bound.map((v) => v.service)).size, bound.length);
  assert.equal(bound.length, services.length);
  assert.ok(store.conflicts > 0, 'the two really raced for some address');
});

/** The store, counting the puts refused by compare-and-swap. */
function countingConflicts(store: Store): Store & { conflicts: number } {
  const counted = Object.create(store) as Store & { conflicts: number };
  counted.conflicts = 0;
  counted.put = async (key, value, opts) => {
    try {
      return await store.put(key, value, opts);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'TRELLIS_STORE_CONFLICT') counted.conflicts++;
      throw err;
    }
  };
  return counted;
}
