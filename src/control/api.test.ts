import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Resource } from '../resources/kinds.ts';
import type { Store } from '../store/types.ts';
import { api, httpRequest, startTestControlPlane, type ApiErrorBody } from './testing.ts';

interface ApplyBody {
  results: { kind: string; namespace: string; name: string; action: string }[];
  warnings: { resource: string; path: string; message: string }[];
}
interface ListBody {
  kind: string;
  items: Resource[];
}

const SERVICES = `# two services and a policy, three documents
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec:
  selector: { app: reviews }
  ports: [{ name: http, port: 9080 }]
---
apiVersion: v1
kind: Service
metadata: { name: ratings, namespace: shop }
spec:
  selector: { app: ratings }
  ports: [{ port: 9080 }]
---
apiVersion: trellis.io/v1alpha1
kind: TrafficPolicy
metadata: { name: reviews-policy, namespace: ops }
spec:
  service: reviews.shop
  connectTimeout: 2s
`;

/** 1-based line and column of `needle` in `text`, as an editor shows them. */
function positionIn(text: string, needle: string): { line: number; column: number } {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `${needle} is in the text`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

const names = (items: Resource[]): string[] => items.map((r) => `${r.metadata.namespace}/${r.metadata.name}`);

test('apply creates, then reports unchanged, then configured; get lists by namespace and one by name', async (t) => {
  const cp = await startTestControlPlane(t);

  const created = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', SERVICES);
  assert.equal(created.status, 200);
  assert.deepEqual(
    created.body.results.map((r) => `${r.kind} ${r.namespace}/${r.name} ${r.action}`),
    [
      'Service shop/reviews created',
      'Service shop/ratings created',
      'TrafficPolicy ops/reviews-policy created',
    ],
  );

  // Read-your-writes: what apply answered is what get shows, right away.
  const all = await api<ListBody>(cp.url, 'GET', '/api/v1/resources/service');
  assert.equal(all.status, 200);
  assert.equal(all.body.kind, 'Service');
  assert.deepEqual(names(all.body.items), ['shop/ratings', 'shop/reviews']);

  const again = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', SERVICES);
  assert.deepEqual(
    again.body.results.map((r) => r.action),
    ['unchanged', 'unchanged', 'unchanged'],
  );

  const changed = SERVICES.replace('connectTimeout: 2s', 'connectTimeout: 5s');
  const configured = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', changed);
  assert.deepEqual(
    configured.body.results.map((r) => r.action),
    ['unchanged', 'unchanged', 'configured'],
  );
  const policy = await api<Resource>(cp.url, 'GET', '/api/v1/resources/TrafficPolicy/ops/reviews-policy');
  assert.equal(policy.status, 200);
  assert.equal(policy.body.kind, 'TrafficPolicy');
  assert.equal(policy.body.kind === 'TrafficPolicy' ? policy.body.spec.connectTimeout : 0, 5000);

  const inShop = await api<ListBody>(cp.url, 'GET', '/api/v1/resources/trafficpolicy?namespace=shop');
  assert.deepEqual(inShop.body.items, []);
  const inOps = await api<ListBody>(cp.url, 'GET', '/api/v1/resources/TrafficPolicy?namespace=ops');
  assert.deepEqual(names(inOps.body.items), ['ops/reviews-policy']);

  const one = await api<Resource>(cp.url, 'GET', '/api/v1/resources/Service/shop/reviews');
  assert.equal(one.status, 200);
  assert.equal(one.body.metadata.name, 'reviews');
  assert.equal(one.body.kind === 'Service' ? one.body.spec.ports[0]?.port : 0, 9080);

  const described = await api<{ name: string; source: string }>(
    cp.url,
    'GET',
    '/api/v1/services/shop/reviews',
  );
  assert.equal(described.status, 200);
  assert.equal(described.body.source, 'Service');

  const health = await api<{ status: string; store: string; revision: number }>(
    cp.url,
    'GET',
    '/api/v1/health',
  );
  assert.equal(health.body.status, 'ok');
  assert.equal(health.body.store, 'sqlite');
  assert.ok(health.body.revision >= 4);
});

test('an invalid document refuses the whole apply with file:line:column, and stores nothing', async (t) => {
  const cp = await startTestControlPlane(t);
  const bad = SERVICES.replace('ports: [{ port: 9080 }]', 'ports: [{ port: 9080, colour: red }]');
  const res = await api<ApiErrorBody>(cp.url, 'POST', '/api/v1/apply?file=deploy/shop.yaml', bad);
  assert.equal(res.status, 422);
  assert.equal(res.body.error.code, 'TRELLIS_CONFIG_INVALID');
  const d = res.body.error.diagnostics ?? [];
  assert.equal(d.length, 1);
  assert.deepEqual(
    { file: d[0]?.file, line: d[0]?.line, column: d[0]?.column },
    { file: 'deploy/shop.yaml', ...positionIn(bad, 'colour: red') },
  );
  assert.match(d[0]?.message ?? '', /colour/);
  assert.match(res.body.error.message, /^deploy\/shop\.yaml:\d+:\d+: /);

  // Not even the valid first and third documents were stored.
  for (const kind of ['Service', 'TrafficPolicy']) {
    const list = await api<ListBody>(cp.url, 'GET', `/api/v1/resources/${kind}`);
    assert.deepEqual(list.body.items, [], kind);
  }
  assert.equal((await cp.store.list('resources/')).entries.length, 0);

  // A YAML syntax error is located too.
  const broken = 'apiVersion: v1\nkind: Service\nmetadata: { name: x\n';
  const syntax = await api<ApiErrorBody>(cp.url, 'POST', '/api/v1/apply?file=broken.yaml', broken);
  assert.equal(syntax.status, 422);
  assert.equal(syntax.body.error.diagnostics?.[0]?.file, 'broken.yaml');
  assert.ok((syntax.body.error.diagnostics?.[0]?.line ?? 0) >= 3);
});

test('dryRun=1 answers what would happen and stores nothing', async (t) => {
  const cp = await startTestControlPlane(t);
  const dry = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=shop.yaml&dryRun=1', SERVICES);
  assert.equal(dry.status, 200);
  assert.deepEqual(
    dry.body.results.map((r) => r.action),
    ['created', 'created', 'created'],
  );
  assert.equal((await cp.store.list('resources/')).entries.length, 0);
  assert.deepEqual((await api<ListBody>(cp.url, 'GET', '/api/v1/resources/Service')).body.items, []);

  await api(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', SERVICES);
  const changed = SERVICES.replace('connectTimeout: 2s', 'connectTimeout: 9s');
  const dry2 = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=shop.yaml&dryRun=1', changed);
  assert.deepEqual(
    dry2.body.results.map((r) => r.action),
    ['unchanged', 'unchanged', 'configured'],
  );
  const policy = await api<Resource>(cp.url, 'GET', '/api/v1/resources/TrafficPolicy/ops/reviews-policy');
  assert.equal(policy.body.kind === 'TrafficPolicy' ? policy.body.spec.connectTimeout : 0, 2000);
});

test('delete by name and by YAML; missing things are 404 TRELLIS_NOT_FOUND', async (t) => {
  const cp = await startTestControlPlane(t);
  await api(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', SERVICES);

  const missing = await api<ApiErrorBody>(cp.url, 'GET', '/api/v1/resources/Service/shop/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'TRELLIS_NOT_FOUND');
  const noService = await api<ApiErrorBody>(cp.url, 'GET', '/api/v1/services/shop/nope');
  assert.equal(noService.status, 404);
  assert.equal(noService.body.error.code, 'TRELLIS_NOT_FOUND');
  const noPage = await api<ApiErrorBody>(cp.url, 'GET', '/api/v1/nothing-here');
  assert.equal(noPage.status, 404);
  assert.equal(noPage.body.error.code, 'TRELLIS_NOT_FOUND');

  const byName = await api<ApplyBody>(cp.url, 'DELETE', '/api/v1/resources/service/shop/reviews');
  assert.equal(byName.status, 200);
  assert.deepEqual(byName.body.results, [
    { kind: 'Service', namespace: 'shop', name: 'reviews', action: 'deleted' },
  ]);
  assert.equal((await api(cp.url, 'GET', '/api/v1/resources/Service/shop/reviews')).status, 404);
  const left = await api<ListBody>(cp.url, 'GET', '/api/v1/resources/Service?namespace=shop');
  assert.deepEqual(names(left.body.items), ['shop/ratings']);
  const twice = await api<ApiErrorBody>(cp.url, 'DELETE', '/api/v1/resources/Service/shop/reviews');
  assert.equal(twice.status, 404);
  assert.equal(twice.body.error.code, 'TRELLIS_NOT_FOUND');

  const byYaml = await api<ApplyBody>(cp.url, 'POST', '/api/v1/delete?file=shop.yaml', SERVICES);
  assert.equal(byYaml.status, 200);
  assert.deepEqual(
    byYaml.body.results.map((r) => `${r.name} ${r.action}`),
    ['reviews not found', 'ratings deleted', 'reviews-policy deleted'],
  );
  assert.deepEqual((await api<ListBody>(cp.url, 'GET', '/api/v1/resources/Service')).body.items, []);
  assert.deepEqual((await api<ListBody>(cp.url, 'GET', '/api/v1/resources/TrafficPolicy')).body.items, []);
  assert.equal((await cp.store.list('resources/')).entries.length, 0);

  // Delete by YAML validates like apply: an invalid file deletes nothing.
  await api(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', SERVICES);
  const bad = SERVICES.replace('kind: TrafficPolicy', 'kind: TrafficPolize');
  const refused = await api<ApiErrorBody>(cp.url, 'POST', '/api/v1/delete?file=bad.yaml', bad);
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.diagnostics?.[0]?.line, positionIn(bad, 'TrafficPolize').line);
  assert.equal((await cp.store.list('resources/')).entries.length, 3);
});

/** The store with its watch events delivered `lagMs` late, as etcd's arrive over the network. */
function laggingWatch(store: Store, lagMs: number): Store {
  return {
    kind: store.kind,
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    put: (key, value, opts) => store.put(key, value, opts),
    delete: (key) => store.delete(key),
    grantLease: (ttl) => store.grantLease(ttl),
    keepAlive: (lease) => store.keepAlive(lease),
    revokeLease: (lease) => store.revokeLease(lease),
    close: () => store.close(),
    watch(prefix, from, onEvent, onError) {
      const timers = new Set<NodeJS.Timeout>();
      const cancel = store.watch(
        prefix,
        from,
        (events) => {
          const timer = setTimeout(() => (timers.delete(timer), onEvent(events)), lagMs);
          timers.add(timer);
        },
        onError,
      );
      return () => {
        for (const timer of timers) clearTimeout(timer);
        cancel();
      };
    },
  };
}

test('read-your-writes holds even when the store watch lags behind the writes', async (t) => {
  const cp = await startTestControlPlane(t, { wrapStore: (s) => laggingWatch(s, 300) });
  const applied = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=shop.yaml', SERVICES);
  assert.equal(applied.status, 200);
  // The route and policy warnings see what was just applied (no "does not exist" for reviews.shop).
  assert.deepEqual(applied.body.warnings, []);
  const list = await api<ListBody>(cp.url, 'GET', '/api/v1/resources/Service');
  assert.deepEqual(names(list.body.items), ['shop/ratings', 'shop/reviews']);
  const described = await api(cp.url, 'GET', '/api/v1/services/shop/reviews');
  assert.equal(described.status, 200);

  await api(cp.url, 'DELETE', '/api/v1/resources/Service/shop/reviews');
  const afterDelete = await api<ListBody>(cp.url, 'GET', '/api/v1/resources/Service');
  assert.deepEqual(names(afterDelete.body.items), ['shop/ratings']);

  await api(cp.url, 'POST', '/api/v1/delete?file=shop.yaml', SERVICES);
  assert.deepEqual((await api<ListBody>(cp.url, 'GET', '/api/v1/resources/Service')).body.items, []);
  assert.deepEqual((await api<ListBody>(cp.url, 'GET', '/api/v1/resources/TrafficPolicy')).body.items, []);
});

test('unknown kind is 400, wrong method 405, a bad escape 400, an oversized body 413', async (t) => {
  const cp = await startTestControlPlane(t);

  const kind = await api<ApiErrorBody>(cp.url, 'GET', '/api/v1/resources/Gizmo');
  assert.equal(kind.status, 400);
  assert.equal(kind.body.error.code, 'TRELLIS_UNKNOWN_KIND');
  const kindOne = await api<ApiErrorBody>(cp.url, 'DELETE', '/api/v1/resources/Gizmo/default/x');
  assert.equal(kindOne.status, 400);
  assert.equal(kindOne.body.error.code, 'TRELLIS_UNKNOWN_KIND');

  for (const [method, path] of [
    ['PUT', '/api/v1/apply'],
    ['GET', '/api/v1/apply'],
    ['POST', '/api/v1/resources/Service'],
    ['PATCH', '/api/v1/resources/Service/default/x'],
  ] as const) {
    const res = await api<ApiErrorBody>(cp.url, method, path);
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.body.error.code, 'TRELLIS_METHOD_NOT_ALLOWED');
  }

  const escape = await api<ApiErrorBody>(cp.url, 'GET', '/api/v1/resources/Service/default/%E0%A4%A');
  assert.equal(escape.status, 400);
  assert.equal(escape.body.error.code, 'TRELLIS_BAD_REQUEST');

  // 8 MiB is the limit; the client is told so (not reset), and the server carries on.
  const huge = Buffer.alloc(8 * 1024 * 1024 + 1024, 'a');
  const tooLarge = await httpRequest(`${cp.url}/api/v1/apply?file=big.yaml`, { method: 'POST', body: huge });
  assert.equal(tooLarge.status, 413);
  assert.equal((JSON.parse(tooLarge.text) as ApiErrorBody).error.code, 'TRELLIS_BODY_TOO_LARGE');
  assert.equal((await api(cp.url, 'GET', '/api/v1/health')).status, 200);
  assert.equal((await cp.store.list('resources/')).entries.length, 0);
});

test("the demo's canary applies as is, with a warning until reviews has workloads", async (t) => {
  const cp = await startTestControlPlane(t);
  const text = readFileSync(new URL('../../examples/demo/canary.yaml', import.meta.url), 'utf8');
  const res = await api<ApplyBody>(cp.url, 'POST', '/api/v1/apply?file=canary.yaml', text);
  assert.equal(res.status, 200);
  assert.deepEqual(
    res.body.results.map((r) => `${r.kind} ${r.name} ${r.action}`),
    ['Service reviews-v1 created', 'Service reviews-v2 created', 'TrafficRoute reviews-canary created'],
  );
  assert.ok(
    res.body.warnings.some(
      (w) => w.resource === 'resources/TrafficRoute/default/reviews-canary' && /reviews/.test(w.message),
    ),
    JSON.stringify(res.body.warnings),
  );
  const described = await api<{ referencedBy: string[] }>(
    cp.url,
    'GET',
    '/api/v1/services/default/reviews-v2',
  );
  assert.deepEqual(described.body.referencedBy, ['TrafficRoute default/reviews-canary']);
});
