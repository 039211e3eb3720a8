// The proxy's own parts (listeners, inbound route, admin, identity), scope, versions, determinism.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyConfig } from '../../model/schema.ts';
import type { WorkloadResource } from '../../resources/kinds.ts';
import { compileSnapshot, createSnapshotCompiler, type MeshState } from './compiler.ts';
import { asProxyWouldLoad, meshState, service, trafficPolicy, trafficRoute, workload } from './testing.ts';

function state(): MeshState {
  return meshState({
    workloads: [
      workload('web-1', 'web', { address: '10.0.0.10', admin: 15000, app: 8080 }),
      workload('reviews-1', 'reviews', { address: '10.0.1.1', version: 'v1', locality: { zone: 'z1' } }),
      workload('reviews-2', 'reviews', { address: '10.0.1.2', version: 'v2', ready: false }),
      workload('db-1', 'db', { address: '10.0.3.1', protocol: 'tcp', app: 5432, outbound: null }),
      workload('ratings-1', 'ratings', { address: '10.0.2.1', namespace: 'other', protocol: 'grpc' }),
    ],
    services: [service('reviews-v2', { app: 'reviews', version: 'v2' })],
    routes: [
      trafficRoute('reviews', { service: 'reviews', routes: [{ backends: [{ service: 'reviews-v2' }] }] }),
    ],
    policies: [trafficPolicy('db', { service: 'db', connectTimeout: '2s' })],
  });
}

function compile(s: MeshState, name: string, opts?: { scope?: string[]; version?: string }): ProxyConfig {
  const w = s.workloads.find((x) => x.metadata.name === name)!;
  const cfg = compileSnapshot(s, { workload: w }, opts);
  assert.deepEqual(asProxyWouldLoad(cfg), cfg);
  return cfg;
}

test('an http workload: outbound HTTP proxy on loopback, inbound detect to the app', () => {
  const cfg = compile(state(), 'web-1');
  assert.deepEqual(cfg.node, {
    id: 'web-1',
    service: 'web',
    namespace: 'default',
    workload: 'web-v1',
    version: 'v1',
  });
  assert.deepEqual(cfg.admin, { address: '127.0.0.1', port: 15000 });
  assert.deepEqual(
    cfg.listeners.map((l) => [
      l.name,
      l.direction,
      l.address,
      l.port,
      l.protocol,
      l.routeTable,
      l.tcpCluster,
    ]),
    [
      ['outbound', 'outbound', '127.0.0.1', 15001, 'http', 'outbound', undefined],
      ['inbound', 'inbound', '10.0.0.10', 15006, 'detect', 'inbound', undefined],
    ],
  );
  assert.deepEqual(cfg.routeTables[1], {
    name: 'inbound',
    virtualHosts: [
      {
        name: 'inbound',
        domains: ['*'],
        routes: [{ name: 'inbound', backends: [{ cluster: 'inbound:app', weight: 1 }] }],
      },
    ],
  });
  const app = cfg.clusters.find((c) => c.name === 'inbound:app');
  assert.equal(app?.protocol, 'http1');
  assert.deepEqual(
    app?.endpoints.map((e) => `${e.address}:${e.port}`),
    ['127.0.0.1:8080'],
  );
});

test('a tcp workload: inbound tcp straight to the app; no outbound port, no outbound listener', () => {
  const cfg = compile(state(), 'db-1');
  assert.deepEqual(
    cfg.listeners.map((l) => [l.name, l.address, l.port, l.protocol, l.routeTable, l.tcpCluster]),
    [['inbound', '10.0.3.1', 15006, 'tcp', undefined, 'inbound:app']],
  );
  assert.deepEqual(
    cfg.routeTables.map((t) => t.name),
    ['outbound'],
  );
  const app = cfg.clusters.find((c) => c.name === 'inbound:app');
  assert.equal(app?.protocol, 'tcp');
  assert.equal(app?.endpoints[0]?.port, 5432);
  assert.equal(cfg.admin.port, 0);
});

test('a grpc workload gets a grpc app cluster behind a detect listener', () => {
  const cfg = compile(state(), 'ratings-1');
  assert.equal(cfg.listeners.find((l) => l.name === 'inbound')?.protocol, 'detect');
  assert.equal(cfg.clusters.find((c) => c.name === 'inbound:app')?.protocol, 'grpc');
  assert.equal(cfg.clusters.find((c) => c.name === 'outbound:ratings.other')?.protocol, 'grpc');
});

test('scope limits outbound virtual hosts to the services called, plus the clusters their routes use', () => {
  const s = state();
  const cfg = compile(s, 'web-1', { scope: ['reviews', 'ratings.other', 'nonexistent'] });
  assert.deepEqual(
    cfg.routeTables[0]?.virtualHosts.map((v) => v.name),
    ['ratings.other', 'reviews.default'],
  );
  assert.deepEqual(
    cfg.clusters.map((c) => c.name),
    ['inbound:app', 'outbound:ratings.other', 'outbound:reviews-v2.default', 'outbound:reviews.default'],
  );
  const none = compile(s, 'web-1', { scope: [] });
  assert.deepEqual(none.routeTables[0]?.virtualHosts, []);
  assert.deepEqual(
    none.clusters.map((c) => c.name),
    ['inbound:app'],
  );
  // A bare name is relative to the proxy's namespace: from "other", "reviews" is nothing.
  const fromOther = compile(s, 'ratings-1', { scope: ['reviews', 'ratings'] });
  assert.deepEqual(
    fromOther.routeTables[0]?.virtualHosts.map((v) => v.name),
    ['ratings.other'],
  );
});

test('version: given, else a content hash that changes with the content only', () => {
  const s = state();
  assert.equal(compile(s, 'web-1', { version: 'v42' }).version, 'v42');
  const a = compile(s, 'web-1').version;
  assert.match(a, /^[0-9a-f]{16}$/);
  assert.equal(compile(state(), 'web-1').version, a);
  assert.notEqual(compile(s, 'reviews-1').version, a, 'another proxy, another config');
  const changed = state();
  changed.workloads[2] = workload('reviews-2', 'reviews', {
    address: '10.0.1.2',
    version: 'v2',
    ready: true,
  });
  assert.notEqual(compile(changed, 'web-1').version, a);
});

/** Deterministic shuffle (xorshift), so a failure can be replayed. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = Math.abs(x) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The same workload with its labels inserted in reverse order. */
function relabelled(w: WorkloadResource): WorkloadResource {
  const labels = Object.fromEntries(Object.entries(w.metadata.labels).reverse());
  return { ...w, metadata: { ...w.metadata, labels: labels as WorkloadResource['metadata']['labels'] } };
}

test('the same state in any order compiles to byte-identical JSON', () => {
  const s = state();
  // Two routes for one service and duplicate-looking services make order matter if anything does.
  s.routes.push(
    trafficRoute('a-first', { service: 'reviews', routes: [{ backends: [{ service: 'reviews' }] }] }),
  );
  s.services.push(service('all-reviews', { app: 'reviews' }));
  const expected = JSON.stringify(compile(s, 'web-1'));
  for (let seed = 1; seed <= 20; seed++) {
    const mixed: MeshState = {
      services: shuffled(s.services, seed),
      workloads: shuffled(s.workloads, seed * 7).map(relabelled),
      routes: shuffled(s.routes, seed * 13),
      policies: shuffled(s.policies, seed * 17),
    };
    const target = mixed.workloads.find((w) => w.metadata.name === 'web-1')!;
    assert.equal(
      JSON.stringify(createSnapshotCompiler(mixed).compile({ workload: target })),
      expected,
      `seed ${seed}`,
    );
  }
});
