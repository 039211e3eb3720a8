// Naming the caller of a server-side series from the mesh state: by deployment, then by service
// account; ambiguous or unknown callers stay unnamed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkloadResource } from '../../resources/kinds.ts';
import type { MeshState } from '../snapshot/index.ts';
import { callerResolver } from './callers.ts';
import type { SeriesDef } from './store.ts';
import { edgeLabels, WEB_ID } from './testing.ts';

function workload(name: string, service: string, app: string, serviceAccount: string): WorkloadResource {
  return WorkloadResource.parse({
    apiVersion: 'trellis.io/v1alpha1',
    kind: 'Workload',
    metadata: { name, namespace: 'default', labels: { app, version: 'v1' } },
    spec: {
      service,
      serviceAccount,
      address: '10.0.0.1',
      ports: { inbound: 15006, app: 8080 },
      protocol: 'http',
    },
  });
}

const state: MeshState = {
  services: [],
  workloads: [
    workload('web-v1-a', 'web', 'web', 'web'),
    workload('web-v1-b', 'web', 'web', 'web'),
    // One deployment label (app shared) under two services: the deployment alone cannot tell.
    workload('shared-v1-a', 'alpha', 'shared', 'alpha'),
    workload('shared-v1-b', 'beta', 'shared', 'beta'),
  ],
  routes: [],
  policies: [],
};

const series = (over: Record<string, string>): SeriesDef => ({
  kind: 'http',
  reporter: 'destination',
  labels: edgeLabels('destination', over),
  proxy: { name: 'reviews-v1-a', namespace: 'default', service: 'reviews' },
  failure: false,
});

test('services: by deployment, else by service account; unknown callers stay unknown', () => {
  const callerOf = callerResolver(state, 'services');
  assert.ok(callerOf !== undefined);
  assert.deepEqual(callerOf(series({})), { namespace: 'default', name: 'web' });
  const shared = { source_workload: 'shared-v1' };
  assert.deepEqual(
    callerOf(series({ ...shared, source_principal: 'spiffe://cluster.local/ns/default/sa/beta' })),
    { namespace: 'default', name: 'beta' },
  );
  assert.equal(callerOf(series({ ...shared, source_principal: 'unknown' })), undefined);
  // An identity of another namespace than the one the caller claims names no one.
  const foreign = 'spiffe://cluster.local/ns/other/sa/beta';
  assert.equal(callerOf(series({ ...shared, source_principal: foreign })), undefined);
  assert.equal(callerOf(series({ source_workload: 'unknown', source_principal: 'unknown' })), undefined);
});

test('workloads: only a deployment or an identity of one instance names it; other kinds need no help', () => {
  const callerOf = callerResolver(state, 'workloads');
  assert.ok(callerOf !== undefined);
  assert.equal(callerOf(series({})), undefined, 'web-v1 has two instances');
  assert.deepEqual(callerOf(series({ source_workload: 'web-v2' })), undefined);
  const one: MeshState = { ...state, workloads: state.workloads.slice(0, 1) };
  assert.deepEqual(callerResolver(one, 'workloads')?.(series({})), {
    namespace: 'default',
    name: 'web-v1-a',
  });
  // Opaque TCP has no peer header: the identity alone names the one instance that holds it.
  const tcp = { source_workload: 'unknown', source_principal: 'spiffe://cluster.local/ns/default/sa/alpha' };
  assert.deepEqual(callerOf(series(tcp)), { namespace: 'default', name: 'shared-v1-a' });
  assert.equal(callerOf(series({ ...tcp, source_principal: WEB_ID })), undefined, 'sa/web has two');
  assert.equal(callerResolver(state, 'deployments'), undefined);
  assert.equal(callerResolver(state, 'namespaces'), undefined);
});
