// Grouping what the store holds: by resource of each kind (inbound), by route (the callers'
// outbound), and into edges with the identities mTLS proved, server-side measurements first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { edgesOf } from './edges.ts';
import { statByResource, statByRoute } from './query.ts';
import { StatsStore, type ReportingProxy } from './store.ts';
import { edgeLabels, requestEntry, REVIEWS_ID, WEB_ID } from './testing.ts';

const REVIEWS: ReportingProxy = { name: 'reviews-v1-abc', namespace: 'default', service: 'reviews' };
const WEB: ReportingProxy = { name: 'web-v1-xyz', namespace: 'default', service: 'web' };

function mesh(): StatsStore {
  const store = new StatsStore();
  store.ingest({}, REVIEWS, {
    type: 'stats',
    requests: [
      requestEntry(0, { 3: 6 }, edgeLabels('destination')),
      requestEntry(1, { 3: 2 }, edgeLabels('destination', { response_code: '500' })),
      // An unmeshed caller: no identity, no peer header.
      requestEntry(
        2,
        { 3: 1 },
        edgeLabels('destination', { source_workload: 'unknown', source_principal: 'unknown', mtls: 'false' }),
      ),
    ],
  });
  store.ingest({}, WEB, {
    type: 'stats',
    requests: [
      requestEntry(0, { 3: 7 }, edgeLabels('source')),
      requestEntry(1, { 3: 1 }, edgeLabels('source', { route: 'reviews.default/1', response_code: '503' })),
      requestEntry(
        2,
        { 3: 4 },
        edgeLabels('source', {
          destination_service: 'db.default',
          destination_workload: 'db-v1',
          destination_principal: 'unknown',
          mtls: 'false',
        }),
      ),
    ],
  });
  return store;
}

test('stat: each kind groups the inbound side', () => {
  const data = mesh().window(60_000);
  const count = (kind: Parameters<typeof statByResource>[1]): Record<string, number> =>
    Object.fromEntries(
      [...statByResource(data, kind)].map(([k, a]) => [
        k,
        a.golden(1).successCount + a.golden(1).failureCount,
      ]),
    );
  assert.deepEqual(count('services'), { 'default/reviews': 9 });
  assert.deepEqual(count('workloads'), { 'default/reviews-v1-abc': 9 });
  assert.deepEqual(count('deployments'), { 'default/reviews-v1': 9 });
  assert.deepEqual(count('namespaces'), { 'default/default': 9 });
});

test("routes: the callers' outbound side, per route name", () => {
  const routes = statByRoute(mesh().window(60_000), { namespace: 'default', name: 'reviews' });
  const g = Object.fromEntries([...routes].map(([r, a]) => [r, a.golden(1)]));
  assert.deepEqual(Object.keys(g).sort(), ['default', 'reviews.default/1']);
  assert.equal(g.default?.successCount, 7);
  assert.equal(g['reviews.default/1']?.failureCount, 1);
});

test('edges: server side with proven identities; client side only where no server reported', () => {
  const edges = edgesOf(mesh().window(60_000), 'deployments', 'deployments');
  const view = edges.map((e) => ({
    src: e.src.name,
    dst: e.dst.name,
    side: e.side,
    secured: e.secured,
    clientIds: e.clientIds,
    serverIds: e.serverIds,
    requests: e.acc.success + e.acc.failure,
  }));
  assert.deepEqual(view, [
    {
      src: 'unknown',
      dst: 'reviews-v1',
      side: 'server',
      secured: false,
      clientIds: [],
      serverIds: [REVIEWS_ID],
      requests: 1,
    },
    {
      src: 'web-v1',
      dst: 'db-v1',
      side: 'client',
      secured: false,
      clientIds: [WEB_ID],
      serverIds: [],
      requests: 4,
    },
    {
      src: 'web-v1',
      dst: 'reviews-v1',
      side: 'server',
      secured: true,
      clientIds: [WEB_ID],
      serverIds: [REVIEWS_ID],
      requests: 8,
    },
  ]);
});
