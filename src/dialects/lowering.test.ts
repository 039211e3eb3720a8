// The small pieces lowering relies on: synthesized names, durations and weights as other meshes
// write them, Linkerd's conditions and response classes, Sidecar scopes, external services.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyConfig } from '../model/schema.ts';
import { DnsLabel, WorkloadResource } from '../resources/kinds.ts';
import { parseGoDuration } from './common/duration.ts';
import { routeName, subsetServiceName, syntheticLabel } from './common/names.ts';
import { integerWeights, parseQuantity } from './common/quantity.ts';
import { applyExternalServices } from './external.ts';
import { sidecarScope, type ScopeRule } from './istio/sidecar.ts';
import { failureStatuses, lowerCondition } from './linkerd/service-profile.ts';

test('synthesized names are DNS labels, readable when they can be, unique when they cannot', () => {
  assert.equal(subsetServiceName('reviews', 'v2'), 'reviews--v2');
  const odd = [
    subsetServiceName('reviews', 'V2'),
    subsetServiceName('reviews', 'v2_canary'),
    syntheticLabel('httpbin.org'),
    syntheticLabel('a'.repeat(80)),
    syntheticLabel('books.booksapp.svc.cluster.local'),
  ];
  for (const n of odd) assert.ok(DnsLabel.safeParse(n).success, n);
  assert.match(odd[0]!, /^reviews--v2-[0-9a-f]{8}$/);
  assert.notEqual(syntheticLabel('a-b.c'), syntheticLabel('a.b-c'));
  assert.equal(syntheticLabel('httpbin.org'), syntheticLabel('httpbin.org'));
  assert.equal(routeName('GET /books/{id}.json'), 'GET_/books/_id_.json');
  assert.equal(routeName('  '), undefined);
});

test('Go durations (Istio, Gateway API, Linkerd) in milliseconds', () => {
  const cases: [string, number | undefined][] = [
    ['7s', 7000],
    ['1.5s', 1500],
    ['0.5s', 500],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['10s500ms', 10_500],
    ['100us', 0.1],
    ['0', 0],
    ['', undefined],
    ['5', undefined],
    ['-1s', undefined],
    ['1d', undefined],
  ];
  for (const [text, ms] of cases) assert.equal(parseGoDuration(text), ms, text);
});

test('weights: quantities, and relative weights as the model integers in proportion', () => {
  assert.equal(parseQuantity('500m'), 0.5);
  assert.equal(parseQuantity('2'), 2);
  assert.equal(parseQuantity('1k'), 1000);
  assert.equal(parseQuantity('lots'), undefined);
  assert.deepEqual(integerWeights([90, 10]), [90, 10]);
  assert.deepEqual(integerWeights([0.75, 0.25]), [750, 250]);
  assert.deepEqual(integerWeights([0, 0.0001]), [0, 1]);
  assert.deepEqual(integerWeights([4_000_000, 1_000_000]), [1_000_000, 250_000]);
});

test('Linkerd conditions become OR-lists of matches; what the model cannot say is refused', () => {
  assert.deepEqual(lowerCondition({ method: 'get', pathRegex: '/a' }), [
    { path: { regex: '/a' }, methods: ['GET'] },
  ]);
  assert.deepEqual(
    lowerCondition({ any: [{ method: 'POST' }, { method: 'PUT' }], all: [{ pathRegex: '/b' }] }),
    [
      { path: { regex: '/b' }, methods: ['POST'] },
      { path: { regex: '/b' }, methods: ['PUT'] },
    ],
  );
  assert.deepEqual(lowerCondition({ all: [{ method: 'GET' }, { method: 'POST' }] }), []);
  assert.equal(lowerCondition({ all: [{ pathRegex: '/a' }, { pathRegex: '/b' }] }), undefined);
  assert.equal(lowerCondition({ not: { pathRegex: '/a' } }), undefined);
  assert.deepEqual(lowerCondition({ not: { method: 'DELETE' } }), [
    { headers: [{ name: ':method', exact: 'DELETE', invert: true }] },
  ]);
});

test('Linkerd response classes: the first class that matches decides, else 5xx is a failure', () => {
  assert.equal(failureStatuses([]).length, 100);
  const statuses = failureStatuses([
    { condition: { status: { min: 502, max: 502 } }, isFailure: false },
    {
      condition: { any: [{ status: { min: 429, max: 429 } }, { status: { min: 408, max: 408 } }] },
      isFailure: true,
    },
    { condition: { not: { status: { max: 503 } } }, isFailure: false },
  ]);
  assert.deepEqual(statuses, [408, 429, 500, 501, 503]);
});

function workload(name: string, namespace: string, labels: Record<string, string>): WorkloadResource {
  return WorkloadResource.parse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace, labels },
    spec: {
      service: labels.app,
      serviceAccount: 'sa',
      address: '10.0.0.1',
      ports: { inbound: 15006, app: 8080 },
      protocol: 'http',
    },
  });
}

test('a Sidecar scope: selected by labels, else the namespace default, else the root namespace', () => {
  const rules: ScopeRule[] = [
    { source: 'shop/default', namespace: 'shop', selector: undefined, services: ['a.shop'] },
    { source: 'shop/reviews', namespace: 'shop', selector: { app: 'reviews' }, services: ['b.shop'] },
    { source: 'istio-system/default', namespace: 'istio-system', selector: undefined, services: ['c.x'] },
  ];
  assert.deepEqual(sidecarScope(workload('r', 'shop', { app: 'reviews' }), rules), ['b.shop']);
  assert.deepEqual(sidecarScope(workload('p', 'shop', { app: 'productpage' }), rules), ['a.shop']);
  assert.deepEqual(sidecarScope(workload('q', 'other', { app: 'q' }), rules), ['c.x']);
  assert.equal(sidecarScope(workload('q', 'other', { app: 'q' }), rules.slice(0, 2)), undefined);
});

test('external services: names join the virtual host, endpoints replace the cluster (without mesh mTLS); none: the same object', () => {
  const config = {
    routeTables: [
      {
        name: 'outbound',
        virtualHosts: [{ name: 'ext.default', domains: ['ext', 'ext.default'], routes: [] }],
      },
    ],
    clusters: [
      { name: 'outbound:ext.default', endpoints: [], mtls: { identities: [] } },
      { name: 'outbound:other.default', endpoints: [], mtls: { identities: [] } },
    ],
  } as unknown as ProxyConfig;
  assert.equal(applyExternalServices(config, []), config);
  const endpoint = { address: 'api.example.com', port: 443, weight: 1, healthy: true, labels: {} };
  const out = applyExternalServices(config, [
    {
      service: { name: 'ext', namespace: 'default' },
      domains: ['api.example.com', 'ext'],
      endpoints: [endpoint],
    },
  ]);
  assert.deepEqual(out.routeTables[0]?.virtualHosts[0]?.domains, ['ext', 'ext.default', 'api.example.com']);
  assert.deepEqual(out.clusters[0]?.endpoints, [endpoint]);
  // Those endpoints are no sidecars: no mesh mTLS to them.
  assert.equal(out.clusters[0]?.mtls, undefined);
  assert.equal(out.clusters[1], config.clusters[1]);
  assert.deepEqual(
    config.routeTables[0]?.virtualHosts[0]?.domains,
    ['ext', 'ext.default'],
    'input untouched',
  );
});
