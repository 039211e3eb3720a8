import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../errors.ts';
import { resolveKind, resourceKey, type Resource } from './kinds.ts';
import { parseResources } from './parse.ts';

function diagnosticsOf(text: string, file = 'mesh.yaml'): ConfigError['diagnostics'] {
  try {
    parseResources(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'TRELLIS_CONFIG_INVALID');
    return err.diagnostics;
  }
  assert.fail('expected a ConfigError');
}

const bookinfo = `# Bookinfo, trimmed
apiVersion: v1
kind: Service
metadata:
  name: reviews
  labels: { app: reviews }
spec:
  selector: { app: reviews }
  ports:
    - name: http
      port: 9080
---
apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: reviews, namespace: default }
spec:
  service: reviews
  routes:
    - name: canary
      match: { headers: [{ name: end-user, exact: jason }] }
      backends: [{ service: reviews-v2 }]
      timeout: 1.5s
    - backends: [{ service: reviews-v1, weight: 90 }, { service: reviews-v2, weight: 10 }]
---
apiVersion: trellis.io/v1alpha1
kind: TrafficPolicy
metadata: { name: reviews }
spec:
  service: reviews.default
  lb: { policy: ring_hash, hash: { header: x-user } }
  connectTimeout: 250ms
---
apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: reviews-v1-a, labels: { app: reviews, version: v1 } }
spec:
  service: reviews
  serviceAccount: bookinfo-reviews
  address: 10.0.0.5
  ports: { inbound: 15006, outbound: 15001, app: 9080 }
  protocol: http
`;

test('a multi-document stream parses into typed resources with defaults', () => {
  const rs = parseResources(bookinfo, 'bookinfo.yaml');
  assert.deepEqual(
    rs.map((r) => resourceKey(r)),
    [
      'resources/Service/default/reviews',
      'resources/TrafficRoute/default/reviews',
      'resources/TrafficPolicy/default/reviews',
      'resources/Workload/default/reviews-v1-a',
    ],
  );
  const [svc, tr, tp, wl] = rs;
  assert.equal(svc?.kind, 'Service');
  assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 9080 }]);
  assert.equal(tr?.kind, 'TrafficRoute');
  assert.equal(tr.spec.routes[0]?.timeout, 1500);
  assert.deepEqual(tr.spec.routes[1]?.backends, [
    { service: 'reviews-v1', weight: 90 },
    { service: 'reviews-v2', weight: 10 },
  ]);
  assert.equal(tr.spec.routes[0]?.backends[0]?.weight, 1);
  assert.equal(tp?.kind, 'TrafficPolicy');
  assert.equal(tp.spec.connectTimeout, 250);
  assert.equal(tp.spec.pool, undefined, 'absent settings stay absent');
  assert.equal(wl?.kind, 'Workload');
  assert.equal(wl.spec.ready, true);
});

test('parsed resources survive a JSON round trip unchanged (what a store does)', () => {
  const rs = parseResources(bookinfo, 'bookinfo.yaml');
  const again = parseResources(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rs }), 'store.json');
  assert.deepEqual(again, rs);
});

test('a hand-written Workload gets app and version labels', () => {
  const [wl] = parseResources(
    `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: db-1, namespace: data, labels: { tier: storage } }
spec: { service: db, serviceAccount: db, address: "fd00::7", ports: { inbound: 15006, app: 5432 }, protocol: tcp }
`,
    'db.yaml',
  ) as [Resource];
  assert.deepEqual(wl.metadata.labels, { app: 'db', version: 'latest', tier: 'storage' });
});

test('diagnostics carry the line and column of the file, not of the document', () => {
  const text = bookinfo
    .replace('      port: 9080', '      port: "http"') // document 1, line 11
    .replace('  connectTimeout: 250ms', '  connectTimeout: soon') // document 3, line 31
    .replace('  protocol: http\n', '  protocol: http\n  replicas: 3\n'); // document 4, line 42
  const ds = diagnosticsOf(text);
  assert.deepEqual(
    ds.map((d) => [d.line, d.column, d.path]),
    [
      [11, 13, 'spec.ports[0].port'],
      [31, 19, 'spec.connectTimeout'],
      [42, 3, 'spec.replicas'],
    ],
  );
  assert.ok(ds.every((d) => d.file === 'mesh.yaml'));
  assert.match(ds[1]!.message, /invalid duration "soon"/);
  assert.equal(ds[2]!.message, 'unknown field "replicas"');
});

test('unknown kind, apiVersion, names and values are reported where they are', () => {
  const ds = diagnosticsOf(`apiVersion: v1
kind: services
metadata: { name: a }
spec: { ports: [] }
---
apiVersion: v2
kind: Service
metadata: { name: b }
spec: { ports: [] }
---
apiVersion: trellis.io/v1alpha1
kind: Rollout
---
apiVersion: v1
kind: Service
metadata: { name: Bad_Name }
spec: { ports: [{ port: 70000, protocol: UDP }], selector: { app: 1 } }
`);
  assert.deepEqual(
    ds.map((d) => `${d.line}:${d.column} ${d.path}`),
    [
      '2:7 kind',
      '6:13 apiVersion',
      '12:7 kind',
      '16:19 metadata.name',
      '17:25 spec.ports[0].port',
      '17:42 spec.ports[0].protocol',
      '17:67 spec.selector.app',
    ],
  );
  assert.match(ds[0]!.message, /unknown kind "services" \(did you mean "Service"\?\)/);
  assert.match(ds[1]!.message, /unknown apiVersion "v2" for kind Service \(use "v1"\)/);
  assert.match(ds[2]!.message, /known kinds: Service, Workload, TrafficRoute, TrafficPolicy/);
  assert.match(ds[3]!.message, /DNS-1123/);
});

test('YAML syntax errors and a duplicate resource in one input are errors', () => {
  const syntax = diagnosticsOf(`apiVersion: v1
kind: Service
metadata: { name: a }
spec: { ports: [] }
---
apiVersion: v1
kind: Service
kind: Service
`);
  assert.deepEqual(
    syntax.map((d) => [d.line, d.column, d.message]),
    [[8, 1, 'Map keys must be unique']],
  );
  const dup = diagnosticsOf(`apiVersion: v1
kind: Service
metadata: { name: a }
spec: { ports: [] }
---
apiVersion: v1
kind: Service
metadata: { name: a, namespace: default }
spec: { ports: [] }
`);
  assert.deepEqual(
    dup.map((d) => [d.line, d.column, d.message]),
    [[8, 19, 'duplicate resource Service/default/a (first at line 3)']],
  );
});

test('a union that fails on type says which types would do', () => {
  const ds = diagnosticsOf(`apiVersion: v1
kind: Service
metadata: { name: a }
spec: { ports: [{ port: 80, targetPort: true }] }
`);
  assert.equal(ds[0]!.message, 'expected number or string');
  const match = diagnosticsOf(`apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: a }
spec:
  service: a
  routes:
    - match: { path: { prefx: / } }
      backends: [{ service: a }]
`);
  assert.deepEqual(
    match.map((d) => [d.line, d.column, d.path, d.message]),
    [[7, 24, 'spec.routes[0].match.path.prefx', 'unknown field "prefx"']],
  );
});

test('JSON input and kind: List (kubectl get -o json) are accepted; List items report their own paths', () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    metadata: { resourceVersion: '' },
    items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { ports: [{ port: 80 }] } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'b' }, spec: { ports: [{ port: 81 }] } },
    ],
  };
  const rs = parseResources(JSON.stringify(list, null, 2), 'list.json');
  assert.deepEqual(
    rs.map((r) => r.metadata.name),
    ['a', 'b'],
  );
  list.items[1]!.spec.ports[0]!.port = -1;
  const ds = diagnosticsOf(JSON.stringify(list, null, 2), 'list.json');
  assert.deepEqual(
    ds.map((d) => [d.file, d.line, d.column, d.path]),
    [['list.json', 31, 21, 'items[1].spec.ports[0].port']],
  );
});

test('empty documents and comment-only documents are skipped', () => {
  assert.deepEqual(parseResources('', 'empty.yaml'), []);
  assert.deepEqual(parseResources('---\n# nothing\n---\n', 'empty.yaml'), []);
});

test('CLI kind aliases resolve, case-insensitively', () => {
  for (const a of ['service', 'services', 'svc', 'SVC', 'Service']) assert.equal(resolveKind(a), 'Service');
  for (const a of ['workload', 'workloads', 'wl']) assert.equal(resolveKind(a), 'Workload');
  for (const a of ['trafficroute', 'trafficroutes', 'tr', 'TrafficRoute'])
    assert.equal(resolveKind(a), 'TrafficRoute');
  for (const a of ['trafficpolicy', 'trafficpolicies', 'tp']) assert.equal(resolveKind(a), 'TrafficPolicy');
  assert.equal(resolveKind('pods'), undefined);
});

test('Workload ports must not collide, and the address must be an IP', () => {
  const ds = diagnosticsOf(`apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: w }
spec:
  service: s
  serviceAccount: s
  address: reviews.local
  ports: { inbound: 8080, app: 8080 }
  protocol: http
`);
  assert.deepEqual(
    ds.map((d) => [d.line, d.path, d.message]),
    [
      [7, 'spec.address', 'must be an IP address'],
      [8, 'spec.ports.app', 'port 8080 is already the inbound port'],
    ],
  );
});

test('a default namespace applies to resources that name none, as kubectl apply -n does', () => {
  const rs = parseResources(bookinfo, 'bookinfo.yaml', { defaultNamespace: 'shop' });
  assert.deepEqual(
    rs.map((r) => r.metadata.namespace),
    ['shop', 'default', 'shop', 'shop'],
  );
});

test('a TrafficRoute the proxy could not compile (bad RE2 pattern) is refused at apply, where it is written', () => {
  const text = [
    'apiVersion: trellis.io/v1alpha1',
    'kind: TrafficRoute',
    'metadata: { name: bad }',
    'spec:',
    '  service: reviews',
    '  routes:',
    '    - match: { path: { regex: "(" } }',
    '      backends: [{ service: reviews }]',
    '',
  ].join('\n');
  assert.throws(
    () => parseResources(text, 'bad.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const d = err.diagnostics[0];
      assert.ok(d, 'one diagnostic');
      assert.equal(d.file, 'bad.yaml');
      assert.equal(d.line, 7);
      assert.match(d.path, /^spec\.routes\[0\]\.match/);
      return true;
    },
  );
});
