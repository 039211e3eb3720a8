// Security edges over a real control plane: an AuthorizationPolicy lets web (and only web) call
// reviews; observed edges (fed as stats) and every other pair of services are explained: allowed,
// denied, partly denied (a second service account of web), a plaintext unmeshed caller; and without
// a CA nobody has an identity to be allowed by.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { SecurityEdge, SecurityEdgesResponse } from './api-security-edges.ts';
import { edgeLabels, requestEntry } from './stats/testing.ts';
import {
  api,
  registration,
  startTestControlPlane,
  StreamClient,
  waitFor,
  type TestControlPlane,
  type TestControlPlaneOptions,
} from './testing.ts';

const POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-readers, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/web] } }]
`;

/** A second web instance under another service account, not connected (a Workload as written). */
const WEB_CANARY = `apiVersion: trellis.io/v1alpha1
kind: Workload
metadata: { name: web-v2-b, labels: { app: web, version: v2 } }
spec: { service: web, serviceAccount: web-canary, address: 127.0.0.9, ports: { inbound: 41001, app: 41002 }, protocol: http }
`;

async function mesh(t: TestContext, opts: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  const cp = await startTestControlPlane(t, opts);
  const reviews = await StreamClient.connect(t, cp.url);
  await reviews.register(registration('reviews-v1-a', { service: 'reviews' }));
  for (const name of ['web', 'loadgen']) {
    const c = await StreamClient.connect(t, cp.url);
    await c.register(registration(`${name}-v1-a`, { service: name }));
  }
  const loadgenId = 'spiffe://cluster.local/ns/default/sa/loadgen';
  reviews.send({
    type: 'stats',
    requests: [
      requestEntry(0, { 3: 3 }, edgeLabels('destination')),
      requestEntry(
        1,
        { 3: 1 },
        edgeLabels('destination', { source_workload: 'loadgen-v1', source_principal: loadgenId }),
      ),
      requestEntry(
        2,
        { 3: 1 },
        edgeLabels('destination', { source_workload: 'unknown', source_principal: 'unknown', mtls: 'false' }),
      ),
    ],
  });
  await waitFor('the report to be filed', async () => {
    const res = await api<{ items: unknown[] }>(cp.url, 'GET', '/api/v1/stats/edges?kind=services');
    return res.body.items.length === 3;
  });
  return cp;
}

const row = (e: SecurityEdge): string => `${e.src.name}→${e.dst.name}`;

test('security edges: which policy allows which edge, observed or not', async (t) => {
  const cp = await mesh(t);
  const apply = (file: string, text: string) => api(cp.url, 'POST', `/api/v1/apply?file=${file}`, text);
  assert.equal((await apply('policy.yaml', POLICY)).status, 200);
  assert.equal((await apply('canary.yaml', WEB_CANARY)).status, 200);
  const res = await api<SecurityEdgesResponse>(cp.url, 'GET', '/api/v1/security/edges', undefined, {
    token: cp.readerToken,
  });
  assert.equal(res.status, 200);
  assert.equal(res.body.trustDomain, 'cluster.local');
  const items = Object.fromEntries(res.body.items.map((e) => [row(e), e]));
  assert.deepEqual(
    res.body.items.map((e) => [row(e), e.observed, e.secured, e.verdict]),
    [
      ['loadgen→reviews', true, true, 'deny'],
      ['loadgen→web', false, null, 'allow'],
      ['reviews→loadgen', false, null, 'allow'],
      ['reviews→web', false, null, 'allow'],
      ['unknown→reviews', true, false, 'deny'],
      ['web→loadgen', false, null, 'allow'],
      ['web→reviews', true, true, 'partial'],
    ],
  );
  assert.deepEqual(items['unknown→reviews']?.src, {
    namespace: 'default',
    name: 'unknown',
    serviceAccounts: [],
  });
  assert.equal(items['loadgen→reviews']?.reason, 'no ALLOW policy matched');
  assert.equal(items['loadgen→reviews']?.mtls, 'PERMISSIVE');
  const web = items['web→reviews'];
  assert.deepEqual(web?.src.serviceAccounts, ['web', 'web-canary']);
  assert.match(web?.reason ?? '', /^1 of 2 denied, e\.g\. service account web-canary to reviews-v1-a: /);
  assert.equal(items['reviews→web']?.policy, undefined, 'no policy applies to web');

  // Without the canary, web is allowed by the policy, which says so.
  await api(cp.url, 'DELETE', '/api/v1/resources/Workload/default/web-v2-b');
  const again = await api<SecurityEdgesResponse>(cp.url, 'GET', '/api/v1/security/edges');
  const allowed = again.body.items.find((e) => row(e) === 'web→reviews');
  assert.equal(allowed?.verdict, 'allow');
  assert.equal(allowed?.policy, 'default/reviews-readers');
  assert.deepEqual(allowed?.resources, ['AuthorizationPolicy/default/reviews-readers']);
  assert.equal(allowed?.reason, 'ALLOW policy default/reviews-readers rules[0] matched');

  const anonymous = await api(cp.url, 'GET', '/api/v1/security/edges', undefined, { token: null });
  assert.equal(anonymous.status, 401);
});

test('security edges without a CA: callers have no identity, so the policy allows nobody', async (t) => {
  const cp = await mesh(t, { identity: false });
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=p.yaml', POLICY)).status, 200);
  const res = await api<SecurityEdgesResponse>(cp.url, 'GET', '/api/v1/security/edges');
  assert.equal(res.status, 200);
  const web = res.body.items.find((e) => row(e) === 'web→reviews');
  assert.equal(web?.verdict, 'deny');
  assert.equal(res.body.items.find((e) => row(e) === 'web→loadgen')?.verdict, 'allow');
});
