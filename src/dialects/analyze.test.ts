// `trellis analyze`: each problem it is meant to find, in the function and through the real CLI
// against a real control plane (exit 1 when errors were found, 0 otherwise).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { api, startTestControlPlane, tempDir } from '../control/testing.ts';
import { parseResources } from '../resources/parse.ts';
import { trellis } from '../../test/mesh/harness.ts';
import { analyzeResources, type Finding } from './analyze.ts';
import { DIALECTS_DIR } from './golden.ts';

const WORKLOADS = readFileSync(path.join(DIALECTS_DIR, 'testdata', 'workloads.yaml'), 'utf8');

const PROBLEMS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route:
    - { destination: { host: reviews, subset: v1 }, weight: 90 }
    - { destination: { host: reviews, subset: v9 }, weight: 20 }
  - match: [{ uri: { prefix: /never } }]
    route: [{ destination: { host: ghost } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v7, labels: { version: v7 }, trafficPolicy: { loadBalancer: { simple: RANDOM } } }
---
apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: ratings }
spec:
  service: ratings
  routes:
  - backends: [{ service: ratings }]
  - match: { path: { prefix: /x } }
    backends: [{ service: nowhere }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: nobody }
spec:
  workloadSelector: { labels: { app: nobody } }
`;

const brief = (fs: Finding[]): string[] => fs.map((f) => `${f.severity} ${f.code} ${f.resource} ${f.path}`);

test('analyze finds missing subsets, bad weights, missing hosts, shadowed routes, policies selecting nothing', () => {
  const findings = analyzeResources(parseResources(`${WORKLOADS}---\n${PROBLEMS}`, 'problems.yaml'));
  assert.deepEqual(brief(findings), [
    'error host-not-found resources/TrafficRoute/default/ratings spec.routes[1].backends[0].service',
    'error weights resources/VirtualService/default/reviews spec.http[0].route',
    'error subset-not-found resources/VirtualService/default/reviews spec.http[0].route[1].destination.subset',
    'error host-not-found resources/VirtualService/default/reviews spec.http[1].route[0].destination.host',
    'warning no-workloads resources/DestinationRule/default/reviews spec.subsets[1]',
    'warning no-workloads resources/Sidecar/default/nobody spec.workloadSelector',
    'warning shadowed-route resources/TrafficRoute/default/ratings spec.routes[1]',
    'warning shadowed-route resources/VirtualService/default/reviews spec.http[1]',
  ]);
  assert.match(findings[4]!.message, /the policy of reviews--v7\.default selects no workload/);
});

test('the published Bookinfo rules over a healthy mesh have no errors', () => {
  const dir = path.join(DIALECTS_DIR, 'istio', 'golden');
  for (const c of [
    'virtual-service-all-v1',
    'virtual-service-reviews-90-10',
    'virtual-service-reviews-test-v2',
  ]) {
    const input = readFileSync(path.join(dir, c, 'input.yaml'), 'utf8');
    const findings = analyzeResources(parseResources(`${WORKLOADS}---\n${input}`, 'bookinfo.yaml'));
    assert.deepEqual(
      findings.filter((f) => f.severity === 'error'),
      [],
      c,
    );
  }
});

test(
  'trellis analyze: stored config plus -f files, exit 1 on errors, 0 when clean',
  { timeout: 60_000 },
  async (t) => {
    const cp = await startTestControlPlane(t);
    const applied = await api(cp.url, 'POST', '/api/v1/apply?file=workloads.yaml', WORKLOADS);
    assert.equal(applied.status, 200);
    const bookinfo = readFileSync(
      path.join(DIALECTS_DIR, 'istio', 'golden', 'virtual-service-reviews-90-10', 'input.yaml'),
      'utf8',
    );
    assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=bookinfo.yaml', bookinfo)).status, 200);

    const env = { TRELLIS_TOKEN: cp.adminToken ?? '' };
    const clean = await trellis(['analyze', '--control', cp.url], { timeoutMs: 30_000, env });
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.doesNotMatch(clean.stdout, /^Error/m);

    // The stored DestinationRule defines the subsets; the file's VirtualService replaces the stored one.
    const file = path.join(tempDir(t), 'reviews.yaml');
    writeFileSync(
      file,
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: { host: reviews, subset: v3 }
    - destination: { host: reviews, subset: v4 }
      weight: 50
    bogus: true
`,
    );
    const bad = await trellis(['analyze', '--control', cp.url, '-f', file, '-o', 'json'], {
      timeoutMs: 30_000,
      env,
    });
    assert.equal(bad.code, 1, bad.stderr);
    const out = JSON.parse(bad.stdout) as { findings: Finding[] };
    assert.deepEqual(
      out.findings.filter((f) => f.severity === 'error').map((f) => `${f.code} ${f.path}`),
      ['weights spec.http[0].route', 'subset-not-found spec.http[0].route[1].destination.subset'],
    );
    const unknown = out.findings.find((f) => f.code === 'unknown-field');
    assert.equal(unknown?.path, `${file}:11:5`);

    // Warnings alone pass by default; --failure-threshold warning makes them fail.
    const local = await trellis(['analyze', '--local', '-f', file, '--failure-threshold', 'warning'], {
      timeoutMs: 30_000,
    });
    assert.equal(local.code, 1);
    assert.match(
      local.stdout,
      /^Error \[weights\] \(VirtualService default\/reviews spec\.http\[0\]\.route\) weights add up to 50/m,
    );
  },
);
