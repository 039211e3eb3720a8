import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Cluster, ProxyConfig } from '../../model/schema.ts';
import { compileRouteTable } from '../../route/index.ts';
import { compileSnapshot, type MeshState } from './compiler.ts';
import { asProxyWouldLoad, meshState, service, trafficPolicy, trafficRoute, workload } from './testing.ts';

/** Bookinfo, more or less: productpage calls reviews (v1, v2) and ratings (another namespace). */
function bookinfo(): MeshState {
  return meshState({
    workloads: [
      workload('productpage-1', 'productpage', { address: '10.0.0.10' }),
      workload('reviews-v1-a', 'reviews', { address: '10.0.1.1', version: 'v1' }),
      workload('reviews-v2-a', 'reviews', { address: '10.0.1.2', version: 'v2', ready: false }),
      workload('reviews-v2-b', 'reviews', { address: '10.0.1.3', version: 'v2', inbound: 16006 }),
      workload('ratings-1', 'ratings', {
        address: '10.0.2.1',
        namespace: 'other',
        locality: { region: 'eu-west', zone: 'a' },
      }),
      workload('db-1', 'db', { address: '10.0.3.1', protocol: 'tcp', app: 5432 }),
    ],
    services: [
      service('reviews-v1', { app: 'reviews', version: 'v1' }),
      service('reviews-v2', { app: 'reviews', version: 'v2' }),
    ],
    routes: [
      trafficRoute('reviews-split', {
        service: 'reviews',
        routes: [
          {
            backends: [
              { service: 'reviews-v1', weight: 90 },
              { service: 'reviews-v2', weight: 10 },
            ],
          },
        ],
      }),
    ],
    policies: [
      trafficPolicy('reviews-v2', {
        service: 'reviews-v2',
        lb: { policy: 'round_robin' },
        connectTimeout: '250ms',
        pool: { maxIdlePerEndpoint: 8 },
      }),
    ],
  });
}

function compileFor(state: MeshState, name: string, scope?: string[]): ProxyConfig {
  const w = state.workloads.find((x) => x.metadata.name === name);
  assert.ok(w, `no workload ${name}`);
  const cfg = compileSnapshot(state, { workload: w }, scope === undefined ? {} : { scope });
  // The proxy's own loader accepts it, and reads back exactly what was compiled (defaults included).
  assert.deepEqual(asProxyWouldLoad(cfg), cfg);
  return cfg;
}

function clusterOf(cfg: ProxyConfig, name: string): Cluster {
  const c = cfg.clusters.find((x) => x.name === name);
  assert.ok(c, `no cluster ${name} in ${cfg.clusters.map((x) => x.name).join(', ')}`);
  return c;
}

const addresses = (c: Cluster): string[] => c.endpoints.map((e) => `${e.address}:${e.port}`);

test('every workload service becomes an implicit service with a cluster of its sidecars', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  assert.deepEqual(
    cfg.clusters.map((c) => c.name),
    [
      'inbound:app',
      'outbound:db.default',
      'outbound:productpage.default',
      'outbound:ratings.other',
      'outbound:reviews-v1.default',
      'outbound:reviews-v2.default',
      'outbound:reviews.default',
    ],
  );
  const reviews = clusterOf(cfg, 'outbound:reviews.default');
  assert.equal(reviews.protocol, 'http1');
  // The sidecars' inbound ports, never the app port (9080).
  assert.deepEqual(addresses(reviews), ['10.0.1.1:15006', '10.0.1.2:15006', '10.0.1.3:16006']);
  assert.deepEqual(reviews.endpoints[0]?.labels, { app: 'reviews', version: 'v1' });
  const ratings = clusterOf(cfg, 'outbound:ratings.other');
  assert.equal(ratings.endpoints[0]?.locality, 'eu-west/a');
  assert.equal(clusterOf(cfg, 'outbound:db.default').protocol, 'tcp');
});

test('an explicit Service selects workloads of its namespace by label (reviews-v2: version v2)', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  assert.deepEqual(addresses(clusterOf(cfg, 'outbound:reviews-v2.default')), [
    '10.0.1.2:15006',
    '10.0.1.3:16006',
  ]);
  assert.deepEqual(addresses(clusterOf(cfg, 'outbound:reviews-v1.default')), ['10.0.1.1:15006']);
});

test('an unready workload stays an endpoint, marked unhealthy', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  assert.deepEqual(
    clusterOf(cfg, 'outbound:reviews-v2.default').endpoints.map((e) => e.healthy),
    [false, true],
  );
});

test('a TrafficRoute splits reviews 90/10 across the reviews-v1 and reviews-v2 clusters', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  const outbound = cfg.routeTables.find((t) => t.name === 'outbound');
  assert.ok(outbound);
  const vh = outbound.virtualHosts.find((v) => v.name === 'reviews.default');
  assert.deepEqual(vh?.routes, [
    {
      backends: [
        { cluster: 'outbound:reviews-v1.default', weight: 90 },
        { cluster: 'outbound:reviews-v2.default', weight: 10 },
      ],
    },
  ]);
  // Through the real router: a short name with a port reaches the split.
  const router = compileRouteTable(outbound);
  const hit = router.match({ authority: 'reviews:9080', path: '/reviews/1', method: 'GET', headers: [] });
  assert.equal(hit?.virtualHost, 'reviews.default');
  const picks = new Set(Array.from({ length: 400 }, () => hit?.pickCluster()));
  assert.deepEqual([...picks].sort(), ['outbound:reviews-v1.default', 'outbound:reviews-v2.default']);
});

test('a service without a TrafficRoute gets one default route to its own cluster', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  const vh = cfg.routeTables[0]?.virtualHosts.find((v) => v.name === 'ratings.other');
  assert.deepEqual(vh?.routes, [
    {
      name: 'default',
      match: { path: { prefix: '/' }, headers: [], query: [] },
      backends: [{ cluster: 'outbound:ratings.other', weight: 1 }],
    },
  ]);
});

test('the short name resolves only in the proxy namespace, as a Kubernetes search path would', () => {
  const state = bookinfo();
  const fromDefault = compileRouteTable(compileFor(state, 'productpage-1').routeTables[0]!);
  const fromOther = compileRouteTable(compileFor(state, 'ratings-1').routeTables[0]!);
  const vhostOf = (r: typeof fromDefault, authority: string): string | undefined =>
    r.match({ authority, path: '/', method: 'GET', headers: [] })?.virtualHost;
  assert.equal(vhostOf(fromDefault, 'reviews'), 'reviews.default');
  assert.equal(vhostOf(fromDefault, 'ratings'), undefined);
  for (const name of ['ratings.other', 'ratings.other.svc', 'ratings.other.svc.cluster.local:9080'])
    assert.equal(vhostOf(fromDefault, name), 'ratings.other');
  assert.equal(vhostOf(fromOther, 'ratings'), 'ratings.other');
  assert.equal(vhostOf(fromOther, 'reviews'), undefined);
  assert.equal(vhostOf(fromOther, 'reviews.default:9080'), 'reviews.default');
  const vh = compileFor(state, 'productpage-1').routeTables[0]?.virtualHosts.find(
    (v) => v.name === 'reviews.default',
  );
  assert.deepEqual(vh?.domains, [
    'reviews',
    'reviews.default',
    'reviews.default.svc',
    'reviews.default.svc.cluster.local',
  ]);
});

test('a tcp service is reachable with CONNECT through the outbound route table', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  const router = compileRouteTable(cfg.routeTables[0]!);
  // tunnel.ts routes CONNECT with path "/".
  const hit = router.match({ authority: 'db:5432', path: '/', method: 'CONNECT', headers: [] });
  assert.equal(hit?.pickCluster(), 'outbound:db.default');
  assert.deepEqual(addresses(clusterOf(cfg, 'outbound:db.default')), ['10.0.3.1:15006']);
});

test('a TrafficPolicy sets the cluster of its service; other clusters keep the defaults', () => {
  const cfg = compileFor(bookinfo(), 'productpage-1');
  const v2 = clusterOf(cfg, 'outbound:reviews-v2.default');
  assert.deepEqual(v2.lb, { policy: 'round_robin' });
  assert.equal(v2.connectTimeout, 250);
  assert.deepEqual(v2.pool, { maxIdlePerEndpoint: 8, idleTimeout: 60_000 });
  const v1 = clusterOf(cfg, 'outbound:reviews-v1.default');
  assert.deepEqual(v1.lb, { policy: 'ewma' });
  assert.equal(v1.connectTimeout, 1000);
});

test('explicit Service protocol: appProtocol, else an Istio port name, else its workloads', () => {
  const state = bookinfo();
  state.services.push(
    service('grpc-api', { app: 'reviews' }, [{ port: 50051, appProtocol: 'kubernetes.io/h2c' }]),
    service('api', { app: 'reviews' }, [{ port: 8080, name: 'grpc-api' }]),
    service('web', { app: 'reviews' }, [{ port: 8080, name: 'grpc-web' }]),
    service('plain', { app: 'reviews' }, [{ port: 8080 }]),
    service('manual', undefined, [{ port: 8080, name: 'tcp-db' }]),
  );
  const cfg = compileFor(state, 'productpage-1');
  assert.equal(clusterOf(cfg, 'outbound:grpc-api.default').protocol, 'http2');
  assert.equal(clusterOf(cfg, 'outbound:api.default').protocol, 'grpc');
  assert.equal(clusterOf(cfg, 'outbound:web.default').protocol, 'http1');
  assert.equal(clusterOf(cfg, 'outbound:plain.default').protocol, 'http1');
  // No selector selects nothing, as in Kubernetes.
  const manual = clusterOf(cfg, 'outbound:manual.default');
  assert.equal(manual.protocol, 'tcp');
  assert.deepEqual(manual.endpoints, []);
});

test('an explicit Service replaces the implicit one of the same name', () => {
  const state = bookinfo();
  state.services.push(
    service('reviews', { app: 'reviews', version: 'v1' }, [{ port: 9080, appProtocol: 'grpc' }]),
  );
  const cfg = compileFor(state, 'productpage-1');
  const reviews = clusterOf(cfg, 'outbound:reviews.default');
  assert.equal(reviews.protocol, 'grpc');
  assert.deepEqual(addresses(reviews), ['10.0.1.1:15006']);
});

test('a route to a service that does not exist yet gets an empty cluster, not an invalid snapshot', () => {
  const state = bookinfo();
  state.routes = [
    trafficRoute('reviews', { service: 'reviews', routes: [{ backends: [{ service: 'reviews-v3' }] }] }),
  ];
  const cfg = compileFor(state, 'productpage-1');
  assert.deepEqual(clusterOf(cfg, 'outbound:reviews-v3.default').endpoints, []);
});

test('of two TrafficRoutes for one service, the first by namespace/name wins, in any order', () => {
  const state = bookinfo();
  const toV2 = trafficRoute('a-v2', {
    service: 'reviews',
    routes: [{ backends: [{ service: 'reviews-v2' }] }],
  });
  const toV1 = trafficRoute('b-v1', {
    service: 'reviews.default',
    routes: [{ backends: [{ service: 'reviews-v1' }] }],
  });
  for (const routes of [
    [toV2, toV1],
    [toV1, toV2],
  ]) {
    const cfg = compileFor({ ...state, routes }, 'productpage-1');
    const vh = cfg.routeTables[0]?.virtualHosts.find((v) => v.name === 'reviews.default');
    assert.deepEqual(vh?.routes[0]?.backends, [{ cluster: 'outbound:reviews-v2.default', weight: 1 }]);
  }
});

test('TrafficRoute backends resolve relative to the route namespace', () => {
  const state = bookinfo();
  state.routes = [
    trafficRoute(
      'ratings',
      {
        service: 'ratings',
        routes: [{ backends: [{ service: 'ratings' }, { service: 'reviews.default' }] }],
      },
      'other',
    ),
  ];
  const cfg = compileFor(state, 'productpage-1');
  const vh = cfg.routeTables[0]?.virtualHosts.find((v) => v.name === 'ratings.other');
  assert.deepEqual(
    vh?.routes[0]?.backends.map((b) => b.cluster),
    ['outbound:ratings.other', 'outbound:reviews.default'],
  );
});
