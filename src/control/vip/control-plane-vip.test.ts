// Virtual IPs through a running control plane: allocated when services appear, pushed to proxies,
// shown by the API, kept across a restart on the same store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfig } from '../../model/schema.ts';
import type { ServiceDescription } from '../describe.ts';
import type { VirtualIpItem } from '../api-virtual-ips.ts';
import { api, registration, startTestControlPlane, StreamClient, tempDir, waitFor } from '../testing.ts';

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: db }
spec: { selector: { app: db }, clusterIP: 10.96.0.5, ports: [{ name: tcp, port: 5432 }] }
`;

async function virtualIps(url: string): Promise<VirtualIpItem[]> {
  return (await api<{ items: VirtualIpItem[] }>(url, 'GET', '/api/v1/virtual-ips')).body.items;
}

test('services get virtual IPs that reach proxies, the API, and survive a restart', async (t) => {
  const dir = tempDir(t);
  const cp = await startTestControlPlane(t, { dir, identity: false });
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=svc.yaml', SERVICES)).status, 200);

  await waitFor('reviews allocated', () => cp.vips?.addressOf('reviews.default'));

  // A proxy with an outbound listener: its snapshot names both services and itself.
  const reg = registration('productpage-1', { service: 'productpage' });
  reg.spec.ports.outbound = reg.spec.ports.inbound + 5000;
  const client = await StreamClient.connect(t, cp.url);
  await client.register(reg, { transparent: true });
  const snap = await waitFor('a snapshot with every virtual IP', () =>
    client
      .snapshots()
      .map((s) => ProxyConfig.parse(s.config))
      .find((c) => c.dns?.hosts.length === 3),
  );
  const outbound = snap.listeners.find((l) => l.name === 'outbound');
  const app = reg.spec.ports.app;
  assert.deepEqual(
    outbound?.interception?.destinations.map((d) => [d.address, d.port, d.authority, d.tcpCluster]),
    [
      ['10.96.0.5', 5432, 'db.default.svc.cluster.local:5432', 'outbound:db.default'],
      // Allocated in the order services appeared: reviews when applied, productpage when it registered.
      ['240.240.0.2', app, `productpage.default.svc.cluster.local:${app}`, undefined],
      ['240.240.0.1', 9080, 'reviews.default.svc.cluster.local:9080', undefined],
    ],
  );
  assert.equal(outbound?.interception?.passthrough, 'allow');

  const items = await virtualIps(cp.url);
  assert.deepEqual(items, [
    { name: 'db', namespace: 'default', address: '10.96.0.5' },
    { name: 'productpage', namespace: 'default', address: '240.240.0.2' },
    { name: 'reviews', namespace: 'default', address: '240.240.0.1' },
  ]);
  const described = await api<ServiceDescription>(cp.url, 'GET', '/api/v1/services/default/reviews');
  assert.equal(described.body.virtualIp, '240.240.0.1');

  // The same store, a new control plane: the same addresses, before any proxy is back.
  await cp.close();
  const again = await startTestControlPlane(t, { dir, identity: false });
  await again.vips?.idle();
  assert.deepEqual(
    (await virtualIps(again.url)).filter((i) => i.name !== 'productpage'),
    items.filter((i) => i.name !== 'productpage'),
  );
});
