// What a snapshot says about transparent interception for a small mesh: HTTP, gRPC and TCP
// services, ServiceEntry hosts, a Sidecar scope and its outboundTrafficPolicy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyExternalServices,
  lowerMeshState,
  sidecarScope,
  splitResources,
  type LoweredMesh,
} from '../../dialects/index.ts';
import type { ProxyConfig } from '../../model/schema.ts';
import { parseResources } from '../../resources/parse.ts';
import { compileRouteTable } from '../../route/router.ts';
import { compileSnapshot } from '../snapshot/index.ts';
import { asProxyWouldLoad } from '../snapshot/testing.ts';
import { meshInterception, type InterceptionSettings } from './mesh-interception.ts';
import { vipDemand } from './mesh-source.ts';

const MESH = `
apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 9080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: catalog, namespace: shop }
spec:
  selector: { app: catalog }
  clusterIP: 10.96.0.20
  ports: [{ name: grpc, port: 50051, appProtocol: grpc }]
---
apiVersion: v1
kind: Service
metadata: { name: db, namespace: shop }
spec: { selector: { app: db }, ports: [{ name: tcp-pg, port: 5432 }, { name: tcp-admin, port: 5433 }] }
---
apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: productpage-1, labels: { app: productpage, version: v1 } }
spec:
  service: productpage
  serviceAccount: productpage
  address: 10.0.0.1
  ports: { inbound: 15006, outbound: 15001, app: 9080 }
  protocol: http
---
apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: reviews-1, labels: { app: reviews, version: v1 } }
spec:
  service: reviews
  serviceAccount: reviews
  address: 10.0.0.2
  ports: { inbound: 15006, app: 9080 }
  protocol: http
---
apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: worker-1, labels: { app: worker, version: v1 } }
spec:
  service: worker
  serviceAccount: worker
  address: 10.0.0.3
  ports: { inbound: 15006, outbound: 15001, app: 9080 }
  protocol: http
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: payments }
spec:
  hosts: [payments.example.com]
  addresses: [192.0.2.100]
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: httpbin }
spec:
  hosts: [httpbin.org]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }]
`;

const SCOPED = `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: worker }
spec:
  workloadSelector: { labels: { app: worker } }
  egress: [{ hosts: [./reviews.default.svc.cluster.local, "*/httpbin.org"] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
`;

interface Mesh {
  lowered: LoweredMesh;
  settings: InterceptionSettings;
}

/** The mesh lowered, and addresses 240.240.0.N handed out in the order the control plane asks. */
function mesh(extra = ''): Mesh {
  const lowered = lowerMeshState(splitResources(parseResources(MESH + extra, 'mesh.yaml')));
  const vips = new Map<string, string>();
  let n = 0;
  for (const d of vipDemand(lowered.state))
    vips.set(d.service, d.clusterIP !== undefined && d.clusterIP !== '' ? d.clusterIP : `240.240.0.${++n}`);
  return { lowered, settings: { vips: { addresses: () => vips } } };
}

/** As the push server compiles a proxy's snapshot. */
function snapshotOf(
  m: Mesh,
  workload: string,
  settings: InterceptionSettings | null = m.settings,
): ProxyConfig {
  const w = m.lowered.state.workloads.find((x) => x.metadata.name === workload)!;
  const scope = sidecarScope(w, m.lowered.scopes);
  const raw = compileSnapshot(
    m.lowered.state,
    { workload: w },
    { version: 'test', transparent: true, ...(scope === undefined ? {} : { scope }) },
    undefined,
    undefined,
    meshInterception(settings ?? undefined, m.lowered),
  );
  return asProxyWouldLoad(applyExternalServices(raw, m.lowered.externals));
}

function outboundListener(cfg: ProxyConfig): ProxyConfig['listeners'][number] | undefined {
  return cfg.listeners.find((l) => l.name === 'outbound');
}

test('virtual IPs: explicit and implied services and ServiceEntry hosts; never subsets', () => {
  const { settings } = mesh();
  assert.deepEqual(Object.fromEntries(settings.vips.addresses()), {
    // Sorted by name.namespace: the lowered ServiceEntry Services have synthetic names.
    'catalog.shop': '10.96.0.20',
    'db.shop': '240.240.0.1',
    'httpbin-org-917ed089.default': '240.240.0.2',
    'payments-example-com-95c299d5.default': '192.0.2.100',
    'productpage.default': '240.240.0.3',
    'reviews.default': '240.240.0.4',
    'worker.default': '240.240.0.5',
  });
});

test('the outbound listener maps each virtual IP:port to its service; dns names every service', () => {
  const m = mesh();
  const cfg = snapshotOf(m, 'productpage-1');
  const interception = outboundListener(cfg)?.interception;
  assert.deepEqual(interception, {
    passthrough: 'allow',
    destinations: [
      { address: '10.96.0.20', port: 50051, authority: 'catalog.shop.svc.cluster.local:50051' },
      {
        address: '240.240.0.1',
        port: 5432,
        authority: 'db.shop.svc.cluster.local:5432',
        tcpCluster: 'outbound:db.shop',
      },
      {
        address: '240.240.0.1',
        port: 5433,
        authority: 'db.shop.svc.cluster.local:5433',
        tcpCluster: 'outbound:db.shop',
      },
      { address: '240.240.0.2', port: 80, authority: 'httpbin.org:80' },
      {
        address: '192.0.2.100',
        port: 443,
        authority: 'payments.example.com:443',
        tcpCluster: 'outbound:payments-example-com-95c299d5.default',
      },
      { address: '240.240.0.3', port: 9080, authority: 'productpage.default.svc.cluster.local:9080' },
      { address: '240.240.0.4', port: 9080, authority: 'reviews.default.svc.cluster.local:9080' },
      { address: '240.240.0.5', port: 9080, authority: 'worker.default.svc.cluster.local:9080' },
    ],
  });
  assert.deepEqual(cfg.dns?.hosts, [
    { address: '10.96.0.20', names: ['catalog.shop', 'catalog.shop.svc', 'catalog.shop.svc.cluster.local'] },
    { address: '240.240.0.1', names: ['db.shop', 'db.shop.svc', 'db.shop.svc.cluster.local'] },
    { address: '240.240.0.2', names: ['httpbin.org'] },
    { address: '192.0.2.100', names: ['payments.example.com'] },
    {
      address: '240.240.0.3',
      names: [
        'productpage',
        'productpage.default',
        'productpage.default.svc',
        'productpage.default.svc.cluster.local',
      ],
    },
    {
      address: '240.240.0.4',
      names: ['reviews', 'reviews.default', 'reviews.default.svc', 'reviews.default.svc.cluster.local'],
    },
    {
      address: '240.240.0.5',
      names: ['worker', 'worker.default', 'worker.default.svc', 'worker.default.svc.cluster.local'],
    },
  ]);

  // Every authority, and every name with the port, reaches the service's virtual host.
  const router = compileRouteTable(cfg.routeTables.find((t) => t.name === 'outbound')!);
  const vhostOf = (authority: string): string | undefined =>
    router.match({ authority, path: '/', method: 'GET', headers: [] })?.virtualHost;
  for (const d of interception?.destinations ?? []) {
    const vhost = vhostOf(d.authority);
    assert.ok(vhost !== undefined, d.authority);
    const names: string[] = cfg.dns?.hosts.find((h) => h.address === d.address)?.names ?? [];
    for (const name of names) assert.equal(vhostOf(`${name}:${d.port}`), vhost, name);
    // A TCP destination's cluster is that of the same service.
    if (d.tcpCluster !== undefined) assert.equal(d.tcpCluster, `outbound:${vhost}`);
  }
});

test('a Sidecar scope limits both parts to its services; its REGISTRY_ONLY denies passthrough', () => {
  const m = mesh(SCOPED);
  const cfg = snapshotOf(m, 'worker-1');
  const interception = outboundListener(cfg)?.interception;
  assert.equal(interception?.passthrough, 'deny');
  assert.deepEqual(
    interception?.destinations.map((d) => d.authority),
    ['httpbin.org:80', 'reviews.default.svc.cluster.local:9080'],
  );
  assert.deepEqual(
    cfg.dns?.hosts.map((h) => h.names[0]),
    ['httpbin.org', 'reviews'],
  );
  // Proxies the Sidecar does not select keep the whole mesh and the mesh-wide policy.
  const other = snapshotOf(m, 'productpage-1', { ...m.settings, outboundTrafficPolicy: 'REGISTRY_ONLY' });
  assert.equal(outboundListener(other)?.interception?.passthrough, 'deny');
  assert.equal(outboundListener(other)?.interception?.destinations.length, 8);
});

test('no outbound listener, or no interception settings: neither part', () => {
  const m = mesh();
  const inboundOnly = snapshotOf(m, 'reviews-1');
  assert.equal(outboundListener(inboundOnly), undefined);
  assert.equal(inboundOnly.dns, undefined);
  const plain = snapshotOf(m, 'productpage-1', null);
  assert.equal(outboundListener(plain)?.interception, undefined);
  assert.equal(plain.dns, undefined);
});

test('a service without a virtual IP yet is simply left out', () => {
  const m = mesh();
  const partial = new Map([...m.settings.vips.addresses()].filter(([k]) => k !== 'reviews.default'));
  const cfg = snapshotOf(m, 'productpage-1', { vips: { addresses: () => partial } });
  assert.ok(
    !outboundListener(cfg)?.interception?.destinations.some((d) => d.authority.startsWith('reviews.')),
  );
  assert.ok(!cfg.dns?.hosts.some((h) => h.names.includes('reviews')));
});
