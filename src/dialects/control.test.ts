// Dialect resources through the control plane's API: stored as written (unknown fields warned
// with file:line:column and dropped), listed and deleted like native kinds, lowered into the
// mesh view, and resolved the same way whatever order conflicting resources were applied in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { api, startTestControlPlane } from '../control/testing.ts';
import type { ServiceDescription } from '../control/describe.ts';

const VS = (name: string, subset: string): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ${name} }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: reviews, subset: ${subset} } }] }]
`;
const DR = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
  trafficPolicy:
    loadBalancer: { simple: ROUND_ROBIN }
    typo: 1
`;
const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { selector: { app: reviews }, ports: [{ port: 9080 }] }
`;

interface ApplyBody {
  results: { kind: string; name: string; action: string }[];
  warnings: { resource: string; path: string; message: string }[];
}

test('apply, list, get and delete Istio kinds; warnings carry file:line:column', async (t) => {
  const cp = await startTestControlPlane(t);
  const res = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=dr.yaml', `${SERVICE}---\n${DR}`);
  assert.equal(res.status, 200);
  assert.deepEqual(
    res.body.results.map((r) => `${r.kind}/${r.name} ${r.action}`),
    ['Service/reviews created', 'DestinationRule/reviews created'],
  );
  assert.ok(
    res.body.warnings.some(
      (w) => w.message === 'dr.yaml:14:5: unknown field "typo" ignored (spec.trafficPolicy.typo)',
    ),
  );

  const list = await api<{ items: { metadata: { name: string }; spec: Record<string, unknown> }[] }>(
    cp.url,
    'GET',
    '/api/v1/resources/destinationrule?namespace=',
  );
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.items.map((i) => i.metadata.name),
    ['reviews'],
  );
  assert.equal(
    'typo' in (list.body.items[0]!.spec['trafficPolicy'] as object),
    false,
    'stored without the unknown field',
  );
  assert.equal((await api(cp.url, 'GET', '/api/v1/resources/DestinationRule/default/reviews')).status, 200);

  // Lowered into the view: the subset Services exist, the policy applies.
  const state = cp.view.state();
  assert.deepEqual(state.services.map((s) => s.metadata.name).sort(), [
    'reviews',
    'reviews--v1',
    'reviews--v2',
  ]);
  assert.equal(state.policies[0]?.spec.lb?.policy, 'round_robin');

  assert.equal(
    (await api(cp.url, 'DELETE', '/api/v1/resources/DestinationRule/default/reviews')).status,
    200,
  );
  assert.deepEqual(
    cp.view.state().services.map((s) => s.metadata.name),
    ['reviews'],
  );
  assert.deepEqual(cp.view.dialectResources(), []);
});

test('two VirtualServices for one host: the same one wins whatever the apply order', async (t) => {
  const routeOf = async (order: string[]): Promise<string> => {
    const cp = await startTestControlPlane(t);
    for (const doc of [SERVICE, DR, ...order])
      assert.equal((await api(cp.url, 'POST', '/api/v1/apply', doc)).status, 200);
    const d = await api<ServiceDescription>(cp.url, 'GET', '/api/v1/services/default/reviews');
    assert.equal(d.status, 200);
    await cp.close();
    return JSON.stringify(d.body.route);
  };
  const ab = await routeOf([VS('a', 'v1'), VS('b', 'v2')]);
  const ba = await routeOf([VS('b', 'v2'), VS('a', 'v1')]);
  assert.equal(ab, ba);
  assert.match(ab, /"trellis.io\/lowered-from":"VirtualService default\/a"/);
  assert.match(ab, /reviews--v1\.default/);
});
