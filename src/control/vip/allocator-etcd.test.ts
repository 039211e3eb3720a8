// Two control-plane replicas on one etcd (two clients, as two processes would have) allocate
// virtual IPs for the same services at once: never one address for two services, and both agree.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { startEtcd, type TestEtcd } from '../../../test/support/etcd.ts';
import { openEtcdStore } from '../../store/etcd-store.ts';
import { waitFor } from '../testing.ts';
import { VIP_PREFIX, VirtualIps } from './allocator.ts';
import { assignments, FakeSource } from './testing.ts';

let etcd: TestEtcd | undefined;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.stop();
});

test('two replicas on one etcd race for 100 services: one address each, the same on both', async (t) => {
  assert.ok(etcd, 'etcd did not start (see the before hook)');
  const opts = { endpoints: [etcd.endpoint], prefix: `/trellis-test/${randomUUID()}/` };
  const [s1, s2] = await Promise.all([openEtcdStore(opts), openEtcdStore(opts)]);
  t.after(async () => {
    await s1.close();
    await s2.close();
  });
  const services = Array.from({ length: 100 }, (_, i) => `svc${i}.ns${i % 4}`);
  const r1 = new FakeSource(services);
  const r2 = new FakeSource([...services].reverse());
  const [a, b] = await Promise.all([
    VirtualIps.open(s1, r1, { debounceMs: 1 }),
    VirtualIps.open(s2, r2, { debounceMs: 1 }),
  ]);
  t.after(() => {
    a.close();
    b.close();
  });
  await waitFor(
    'both replicas agree on every service',
    async () => {
      await Promise.all([a.idle(), b.idle()]);
      return a.addresses().size === services.length && assignments(a).join() === assignments(b).join();
    },
    20_000,
  );
  assert.equal(new Set(a.addresses().values()).size, services.length);
  const { entries } = await s1.list(VIP_PREFIX);
  const bound = entries
    .map((e) => e.value as { service: string; state: string })
    .filter((v) => v.state === 'bound');
  assert.equal(bound.length, services.length, 'duplicate bindings of one service were released');

  // A restart of one replica on the same etcd finds the same addresses.
  a.close();
  const restarted = await VirtualIps.open(s1, r1, { debounceMs: 1 });
  t.after(() => restarted.close());
  await restarted.idle();
  assert.deepEqual(assignments(restarted), assignments(b));
});
