// The stats API and the SMI TrafficMetrics API over a real control plane, fed by hand-written
// reports on real push streams: rows per kind with MESHED, routes, edges, SMI objects, the reader
// token, and the errors (bad window, unknown resource, no token).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import {
  api,
  registration,
  startTestControlPlane,
  StreamClient,
  waitFor,
  type TestControlPlane,
} from '../testing.ts';
import type { EdgesResponse, RoutesResponse, StatResponse } from './api-stats.ts';
import type { TrafficMetrics, TrafficMetricsList } from './smi.ts';
import { edgeLabels, requestEntry, REVIEWS_ID, reviewsReportingControlPlane, WEB_ID } from './testing.ts';

async function fedControlPlane(t: TestContext): Promise<TestControlPlane> {
  const { cp, web } = await reviewsReportingControlPlane(t);
  web.send({ type: 'stats', requests: [requestEntry(0, { 3: 4 }, edgeLabels('source'))] });
  await waitFor('the reports to be filed', async () => {
    const res = await api<EdgesResponse>(cp.url, 'GET', '/api/v1/stats/edges');
    return res.body.items.length > 0 && res.body.items[0]?.side === 'server';
  });
  await waitFor('the client report', async () => {
    const res = await api<RoutesResponse>(cp.url, 'GET', '/api/v1/stats/services/default/reviews/routes');
    return res.body.items.some((i) => i.stats !== null);
  });
  return cp;
}

test('stat, routes and edges', async (t) => {
  const cp = await fedControlPlane(t);
  const services = await api<StatResponse>(
    cp.url,
    'GET',
    '/api/v1/stats/services?namespace=default&window=30s',
  );
  assert.equal(services.status, 200);
  assert.equal(services.body.window, '30s');
  const rows = Object.fromEntries(services.body.items.map((i) => [i.name, i]));
  assert.deepEqual(Object.keys(rows), ['reviews', 'web']);
  assert.deepEqual(rows.reviews?.meshed, { connected: 1, total: 1 });
  assert.equal(rows.reviews?.stats?.successCount, 3);
  assert.equal(rows.reviews?.stats?.failureCount, 1);
  assert.equal(rows.reviews?.stats?.successRate, 0.75);
  assert.equal(rows.web?.stats, null, 'web served nothing');

  const workload = await api<StatResponse>(cp.url, 'GET', '/api/v1/stats/wl?name=reviews-v1-a');
  assert.deepEqual(
    workload.body.items.map((i) => [i.namespace, i.name, i.stats?.successCount]),
    [['default', 'reviews-v1-a', 3]],
  );

  const routes = await api<RoutesResponse>(cp.url, 'GET', '/api/v1/stats/services/default/reviews/routes');
  assert.deepEqual(
    routes.body.items.map((i) => [i.route, i.stats?.successCount]),
    [['default', 4]],
  );

  const edges = await api<EdgesResponse>(cp.url, 'GET', '/api/v1/stats/edges?namespace=default');
  assert.deepEqual(
    edges.body.items.map((e) => [e.src.name, e.dst.name, e.side, e.secured, e.clientIds, e.serverIds]),
    [['web-v1', 'reviews-v1', 'server', true, [WEB_ID], [REVIEWS_ID]]],
  );
});

test('edges between services and between workloads name the caller the server saw', async (t) => {
  const cp = await fedControlPlane(t);
  const edgesOf = async (kind: string): Promise<unknown[][]> => {
    const res = await api<EdgesResponse>(cp.url, 'GET', `/api/v1/stats/edges?kind=${kind}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.kind, kind);
    return res.body.items.map((e) => [e.src.name, e.dst.name, e.side, e.stats.successCount]);
  };
  // The server's report (3 of 4 succeeded) wins over the client's (4) for the same pair.
  assert.deepEqual(await edgesOf('services'), [['web', 'reviews', 'server', 3]]);
  assert.deepEqual(await edgesOf('workloads'), [['web-v1-a', 'reviews-v1-a', 'server', 3]]);
  const bad = await api<{ error: { code: string; message: string } }>(
    cp.url,
    'GET',
    '/api/v1/stats/edges?kind=routes',
  );
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, 'TRELLIS_UNKNOWN_KIND');
  assert.match(bad.body.error.message, /services, deployments, workloads or namespaces/);
});

test('a canary backend the caller names (reviews-v1) is not a second edge beside the callee own one', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await StreamClient.connect(t, cp.url);
  await reviews.register(registration('reviews-v1-a', { service: 'reviews' }));
  const web = await StreamClient.connect(t, cp.url);
  await web.register(registration('web-v1-a', { service: 'web' }));
  reviews.send({ type: 'stats', requests: [requestEntry(0, { 3: 5 }, edgeLabels('destination'))] });
  // The caller's route picked the subset service the canary split names.
  web.send({
    type: 'stats',
    requests: [
      requestEntry(0, { 3: 5 }, edgeLabels('source', { destination_service: 'reviews-v1.default' })),
      // A destination without a sidecar: only the client side knows of it, so it stays.
      requestEntry(
        1,
        { 3: 2 },
        edgeLabels('source', { destination_service: 'ext.default', destination_workload: 'unknown' }),
      ),
    ],
  });
  await waitFor('both reports', async () => {
    const res = await api<EdgesResponse>(cp.url, 'GET', '/api/v1/stats/edges?kind=services');
    return res.body.items.some((e) => e.side === 'server') && res.body.items.some((e) => e.side === 'client');
  });
  const res = await api<EdgesResponse>(cp.url, 'GET', '/api/v1/stats/edges?kind=services');
  assert.deepEqual(
    res.body.items.map((e) => [e.src.name, e.dst.name, e.side, e.stats.successCount]),
    [
      ['web', 'ext', 'client', 2],
      ['web', 'reviews', 'server', 5],
    ],
  );
});

test('routes of a split service count what its callers sent to the backends (reviews-v1, -v2)', async (t) => {
  const cp = await startTestControlPlane(t);
  const canary = await readFile(new URL('../../../examples/demo/canary.yaml', import.meta.url), 'utf8');
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=canary.yaml', canary)).status, 200);
  const web = await StreamClient.connect(t, cp.url);
  await web.register(registration('web-v1-a', { service: 'web' }));
  const via = (backend: string, route: string): Record<string, string> =>
    edgeLabels('source', { destination_service: `${backend}.default`, route });
  web.send({
    type: 'stats',
    requests: [
      requestEntry(0, { 3: 9 }, via('reviews-v1', 'canary')),
      requestEntry(1, { 3: 1 }, via('reviews-v2', 'canary')),
      requestEntry(2, { 3: 2 }, via('reviews-v2', 'jason-to-v2')),
      // Another service's route that happens to reach the same backend is not reviews' traffic.
      requestEntry(3, { 3: 4 }, via('reviews-v2', 'ratings.default/0')),
    ],
  });
  const routes = async (): Promise<Record<string, number | null>> => {
    const res = await api<RoutesResponse>(cp.url, 'GET', '/api/v1/stats/services/default/reviews/routes');
    return Object.fromEntries(res.body.items.map((i) => [i.route, i.stats?.successCount ?? null]));
  };
  await waitFor('the report', async () => (await routes()).canary !== null);
  assert.deepEqual(await routes(), { 'jason-to-v2': 2, canary: 10 });
});

test('edges between services: an unmeshed caller is unknown in its namespace', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await StreamClient.connect(t, cp.url);
  await reviews.register(registration('reviews-v1-a', { service: 'reviews' }));
  const unmeshed = { source_workload: 'unknown', source_principal: 'unknown', mtls: 'false' };
  reviews.send({
    type: 'stats',
    requests: [requestEntry(0, { 3: 2 }, edgeLabels('destination', unmeshed))],
  });
  const res = await waitFor('the report to be filed', async () => {
    const r = await api<EdgesResponse>(cp.url, 'GET', '/api/v1/stats/edges?kind=svc');
    return r.body.items.length > 0 && r;
  });
  assert.deepEqual(
    res.body.items.map((e) => [e.src, e.dst, e.secured]),
    [[{ namespace: 'default', name: 'unknown' }, { namespace: 'default', name: 'reviews' }, false]],
  );
});

test('errors: bad window, unknown resource or kind, no token; the reader token may read', async (t) => {
  const cp = await fedControlPlane(t);
  const code = async (path: string, token?: string | null): Promise<[number, string]> => {
    const res = await api<{ error?: { code: string } }>(
      cp.url,
      'GET',
      path,
      undefined,
      token === undefined ? {} : { token },
    );
    return [res.status, res.body.error?.code ?? 'ok'];
  };
  assert.deepEqual(await code('/api/v1/stats/services?window=5s'), [400, 'TRELLIS_BAD_WINDOW']);
  assert.deepEqual(await code('/api/v1/stats/services?window=1h'), [400, 'TRELLIS_BAD_WINDOW']);
  assert.deepEqual(await code('/api/v1/stats/services?name=nope'), [404, 'TRELLIS_NOT_FOUND']);
  assert.deepEqual(await code('/api/v1/stats/trafficroutes'), [400, 'TRELLIS_UNKNOWN_KIND']);
  assert.deepEqual(await code('/api/v1/stats/services/default/nope/routes'), [404, 'TRELLIS_NOT_FOUND']);
  assert.deepEqual(await code('/api/v1/stats/services', null), [401, 'TRELLIS_UNAUTHENTICATED']);
  assert.deepEqual(await code('/apis/metrics.smi-spec.io/v1alpha1/pods', null), [
    401,
    'TRELLIS_UNAUTHENTICATED',
  ]);
  assert.deepEqual(await code('/api/v1/stats/services', cp.readerToken), [200, 'ok']);
  assert.deepEqual(await code('/apis/metrics.smi-spec.io/v1alpha1/pods', cp.readerToken), [200, 'ok']);
  assert.deepEqual(await code('/apis/metrics.smi-spec.io/v1alpha1/namespaces/default/pods/nope'), [
    404,
    'TRELLIS_NOT_FOUND',
  ]);
  assert.deepEqual(await code('/apis/metrics.smi-spec.io/v1alpha1/namespaces/default/replicasets'), [
    404,
    'TRELLIS_UNKNOWN_KIND',
  ]);
});

test('SMI TrafficMetrics: resource list, one resource, a list, edges', async (t) => {
  const cp = await fedControlPlane(t);
  const base = '/apis/metrics.smi-spec.io/v1alpha1';
  const discovery = await api<{ kind: string; resources: { name: string }[] }>(cp.url, 'GET', base);
  assert.equal(discovery.body.kind, 'APIResourceList');
  assert.deepEqual(
    discovery.body.resources.map((r) => r.name),
    ['namespaces', 'pods', 'deployments', 'services'],
  );

  const metric = (m: TrafficMetrics, name: string): string | null | undefined =>
    m.metrics.find((x) => x.name === name)?.value;
  const one = await api<TrafficMetrics>(
    cp.url,
    'GET',
    `${base}/namespaces/default/deployments/reviews-v1?window=30s`,
  );
  assert.equal(one.status, 200);
  assert.equal(one.body.kind, 'TrafficMetrics');
  assert.equal(one.body.window, '30s');
  assert.deepEqual(one.body.resource, { kind: 'Deployment', namespace: 'default', name: 'reviews-v1' });
  assert.deepEqual(one.body.edge, { direction: 'from', side: 'server', resource: {} });
  assert.equal(metric(one.body, 'success_count'), '3');
  assert.equal(metric(one.body, 'failure_count'), '1');
  // Three in (0.5, 1] ms, one in (5, 10]: rank 2 of 4 → 0.5 + 0.5 × 2/3; rank 3.96 → 5 + 5 × 0.96.
  assert.equal(metric(one.body, 'p50_response_latency'), '0.833');
  assert.equal(metric(one.body, 'p99_response_latency'), '9.8');
  assert.equal(one.body.metrics.find((x) => x.name === 'p99_response_latency')?.unit, 'ms');

  const pods = await api<TrafficMetricsList>(cp.url, 'GET', `${base}/namespaces/default/pods`);
  assert.equal(pods.body.kind, 'TrafficMetricsList');
  assert.deepEqual(pods.body.resource, { kind: 'Pod', namespace: 'default' });
  assert.deepEqual(
    pods.body.items.map((i) => [i.resource.name, metric(i, 'success_count')]),
    [
      ['reviews-v1-a', '3'],
      ['web-v1-a', '0'],
    ],
  );
  const ns = await api<TrafficMetrics>(cp.url, 'GET', `${base}/namespaces/default`);
  assert.deepEqual(ns.body.resource, { kind: 'Namespace', name: 'default' });
  assert.equal(metric(ns.body, 'success_count'), '3');

  const reviewsEdges = await api<TrafficMetricsList>(
    cp.url,
    'GET',
    `${base}/namespaces/default/deployments/reviews-v1/edges`,
  );
  assert.deepEqual(
    reviewsEdges.body.items.map((i) => [i.edge, metric(i, 'success_count'), metric(i, 'failure_count')]),
    [
      [
        {
          direction: 'from',
          side: 'server',
          resource: { kind: 'Deployment', namespace: 'default', name: 'web-v1' },
        },
        '3',
        '1',
      ],
    ],
  );
  const webEdges = await api<TrafficMetricsList>(
    cp.url,
    'GET',
    `${base}/namespaces/default/pods/web-v1-a/edges`,
  );
  assert.deepEqual(
    webEdges.body.items.map((i) => [i.edge, metric(i, 'success_count')]),
    [
      [
        {
          direction: 'to',
          side: 'client',
          resource: { kind: 'Deployment', namespace: 'default', name: 'reviews-v1' },
        },
        '4',
      ],
    ],
  );
});
