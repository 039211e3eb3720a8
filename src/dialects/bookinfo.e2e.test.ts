// End to end, in one process: a real control plane on a real SQLite store, real sidecars, real
// HTTP apps. Istio's published Bookinfo rules are applied as written and the traffic the
// productpage sidecar sends really goes where they say: all to reviews v1, then 90/10 between
// v1 and v2, then `end-user: jason` to v2. Then a ServiceEntry (an external host reached by
// name) and a Sidecar (egress scope) through the same push path.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  api,
  httpRequest,
  startTestControlPlane,
  waitFor,
  type TestControlPlane,
} from '../control/testing.ts';
import type { ProxyConfig } from '../model/schema.ts';
import type { Sidecar } from '../sidecar/sidecar.ts';
import { configDump, launch, startApp } from '../sidecar/testing.ts';
import { DIALECTS_DIR } from './golden.ts';

const BOOKINFO = path.join(DIALECTS_DIR, 'istio', 'golden');
const sample = (c: string): string => readFileSync(path.join(BOOKINFO, c, 'input.yaml'), 'utf8');

async function apply(cp: TestControlPlane, name: string, yaml: string): Promise<void> {
  const res = await api<{ warnings: { message: string }[] }>(
    cp.url,
    'POST',
    `/api/v1/apply?file=${name}`,
    yaml,
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

/** The backends of the first route of `vhost` once the sidecar serves a config where `ready` holds. */
async function servedRoutes(
  sidecar: Sidecar,
  vhost: string,
  ready: (routes: string) => boolean,
): Promise<void> {
  await waitFor(
    `${vhost} routes on the sidecar`,
    async () => {
      const { config } = await configDump(sidecar);
      const vh = (config as ProxyConfig).routeTables
        .find((t) => t.name === 'outbound')
        ?.virtualHosts.find((v) => v.name === vhost);
      return vh !== undefined && ready(JSON.stringify(vh.routes));
    },
    10_000,
  );
}

/** Which app answered, asking through the productpage sidecar as an HTTP_PROXY client would. */
async function who(sidecar: Sidecar, url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await httpRequest(`http://127.0.0.1:${sidecar.ports.outbound}`, {
    path: url,
    headers: { host: new URL(url).host, ...headers },
  });
  assert.equal(res.status, 200, `${url}: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { app: string }).app;
}

async function counts(n: number, ask: () => Promise<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  // Ten at a time: bounded, and quicker than one by one.
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(Array.from({ length: Math.min(10, n - i) }, ask));
    for (const app of batch) out.set(app, (out.get(app) ?? 0) + 1);
  }
  return out;
}

async function bookinfo(t: TestContext): Promise<{ cp: TestControlPlane; product: Sidecar }> {
  const cp = await startTestControlPlane(t);
  const sidecars: Sidecar[] = [];
  for (const version of ['v1', 'v2', 'v3']) {
    const app = await startApp(t, `reviews-${version}`);
    sidecars.push(await launch(t, [cp.url], 'reviews', app.port, { version }));
  }
  const ratings = await startApp(t, 'ratings-v1');
  sidecars.push(await launch(t, [cp.url], 'ratings', ratings.port));
  const productApp = await startApp(t, 'productpage-v1');
  const product = await launch(t, [cp.url], 'productpage', productApp.port);
  await Promise.all(sidecars.map((s) => s.control.firstSnapshot));
  await product.control.firstSnapshot;
  return { cp, product };
}

test(
  'Bookinfo reviews: all to v1, then 90/10 over 1,000 requests, then end-user jason to v2',
  { timeout: 120_000 },
  async (t) => {
    const { cp, product } = await bookinfo(t);
    // Until a rule applies, reviews balances across all three versions.
    await waitFor('every reviews version to be reachable', async () => {
      const seen = await counts(30, () => who(product, 'http://reviews:9080/reviews/0'));
      return seen.size === 3;
    });

    // destination-rule-all + virtual-service-all-v1.
    await apply(cp, 'all-v1.yaml', sample('virtual-service-all-v1'));
    await servedRoutes(product, 'reviews.default', (r) => r.includes('outbound:reviews--v1.default'));
    const allV1 = await counts(100, () => who(product, 'http://reviews:9080/reviews/0'));
    assert.deepEqual([...allV1], [['reviews-v1', 100]]);

    // virtual-service-reviews-90-10 replaces the reviews VirtualService (same name).
    await apply(cp, '90-10.yaml', sample('virtual-service-reviews-90-10'));
    await servedRoutes(
      product,
      'reviews.default',
      (r) => r.includes('"weight":90') && r.includes('reviews--v2'),
    );
    const split = await counts(1000, () => who(product, 'http://reviews:9080/reviews/0'));
    assert.deepEqual([...split.keys()].sort(), ['reviews-v1', 'reviews-v2']);
    const v2 = split.get('reviews-v2') ?? 0;
    // 10% ± 3% of 1,000 (more than 3 standard deviations: a false failure about once in 600 runs).
    assert.ok(v2 >= 70 && v2 <= 130, `reviews-v2 got ${v2} of 1000`);

    // virtual-service-reviews-test-v2: jason sees v2, everybody else v1.
    await apply(cp, 'test-v2.yaml', sample('virtual-service-reviews-test-v2'));
    await servedRoutes(product, 'reviews.default', (r) => r.includes('jason'));
    const jason = await counts(50, () =>
      who(product, 'http://reviews:9080/reviews/0', { 'end-user': 'jason' }),
    );
    assert.deepEqual([...jason], [['reviews-v2', 50]]);
    const others = await counts(50, () =>
      who(product, 'http://reviews:9080/reviews/0', { 'end-user': 'mary' }),
    );
    assert.deepEqual([...others], [['reviews-v1', 50]]);

    // Deleting the VirtualService gives reviews back its default route (all versions).
    const del = await api(cp.url, 'DELETE', '/api/v1/resources/VirtualService/default/reviews');
    assert.equal(del.status, 200);
    await servedRoutes(product, 'reviews.default', (r) => r.includes('outbound:reviews.default'));
  },
);

test(
  'a ServiceEntry host is reachable by name; a Sidecar narrows what a proxy sees',
  { timeout: 60_000 },
  async (t) => {
    const { cp, product } = await bookinfo(t);
    const external = await startApp(t, 'external-api');
    await apply(
      cp,
      'external.yaml',
      `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: external-api }
spec:
  hosts: [api.external.test]
  location: MESH_EXTERNAL
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: STATIC
  endpoints: [{ address: 127.0.0.1, ports: { http: ${external.port} } }]
`,
    );
    await waitFor('the external host to answer through the sidecar', async () => {
      const res = await httpRequest(`http://127.0.0.1:${product.ports.outbound}`, {
        path: 'http://api.external.test/v1/things',
        headers: { host: 'api.external.test' },
      });
      return res.status === 200 && (JSON.parse(res.text) as { app: string }).app === 'external-api';
    });

    // The productpage proxy may call reviews only.
    await apply(
      cp,
      'sidecar.yaml',
      `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: productpage }
spec:
  workloadSelector: { labels: { app: productpage } }
  egress: [{ hosts: ["./reviews.default.svc.cluster.local"] }]
`,
    );
    await waitFor('ratings to leave the productpage scope', async () => {
      const res = await httpRequest(`http://127.0.0.1:${product.ports.outbound}`, {
        path: 'http://ratings:9080/',
        headers: { host: 'ratings:9080' },
      });
      return res.status === 404;
    });
    assert.match(await who(product, 'http://reviews:9080/'), /^reviews-v[123]$/);
  },
);
