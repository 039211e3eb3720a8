import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { Resource } from '../resources/kinds.ts';
import {
  api,
  httpRequest,
  policyYaml,
  proxyStatus,
  startTestControlPlane,
  waitFor,
} from '../control/testing.ts';
import {
  appBehind,
  configDump,
  freePort,
  launch,
  startApp,
  startRelay,
  startTcpRelay,
  storedReady,
  synced,
  viaSidecar,
} from './testing.ts';

test('two sidecars route by service name and keep serving through a control-plane restart', async (t) => {
  let cp = await startTestControlPlane(t);
  const reviewsApp = await startApp(t, 'reviews');
  const productApp = await startApp(t, 'productpage');
  const reviews = await launch(t, [cp.url], 'reviews', reviewsApp.port);
  const product = await launch(t, [cp.url], 'productpage', productApp.port);
  await Promise.all([reviews.control.firstSnapshot, product.control.firstSnapshot]);

  // Registered with the ports it actually bound (it asked for port 0).
  for (const sc of [reviews, product]) {
    const w = await api<Resource>(
      cp.url,
      'GET',
      `/api/v1/resources/Workload/default/${sc.registration.name}`,
    );
    assert.equal(w.status, 200);
    assert.ok(w.body.kind === 'Workload');
    assert.deepEqual(
      { ...w.body.spec.ports },
      {
        inbound: sc.ports.inbound,
        outbound: sc.ports.outbound,
        admin: sc.ports.admin,
        app: sc.registration.spec.ports.app,
      },
    );
    assert.ok(sc.ports.inbound > 0 && sc.ports.outbound > 0 && sc.ports.admin > 0);
  }

  // productpage → its sidecar (outbound) → reviews' sidecar (inbound) → the reviews app.
  await waitFor(
    'reviews to be reachable',
    async () => (await viaSidecar(product, 'http://reviews/')).status === 200,
  );
  assert.deepEqual(await appBehind(product, 'http://reviews/'), {
    app: 'reviews',
    url: '/',
    host: 'reviews',
  });
  assert.equal((await appBehind(product, 'http://reviews.default/ratings?x=1')).url, '/ratings?x=1');
  assert.equal((await appBehind(product, 'http://reviews.default.svc.cluster.local/')).app, 'reviews');
  assert.equal((await appBehind(reviews, 'http://productpage/')).app, 'productpage');
  await synced(cp, reviews);
  const before = await synced(cp, product);
  assert.equal((await configDump(product)).version, before.acked, 'serving the snapshot it ACKed');

  // The control plane goes away: the sidecars keep serving with what they have.
  const { dir, port } = cp;
  await cp.close();
  for (let i = 0; i < 5; i++) assert.equal((await appBehind(product, 'http://reviews/')).app, 'reviews');
  assert.equal((await httpRequest(`http://127.0.0.1:${product.ports.admin}/ready`)).status, 200);

  // It comes back on the same store and port; the sidecars reconnect by themselves.
  cp = await startTestControlPlane(t, { dir, port });
  const after = await synced(cp, product);
  await synced(cp, reviews);
  assert.ok(Number(after.acked) > Number(before.acked), `new snapshot ${after.acked} after ${before.acked}`);
  assert.equal(product.control.version, after.acked);

  // And the new control plane's config takes effect.
  await api(
    cp.url,
    'POST',
    '/api/v1/apply?file=route.yaml',
    `apiVersion: trellis.io/v1alpha1
kind: TrafficRoute
metadata: { name: reviews }
spec:
  service: reviews
  routes:
    - { name: gone, match: { path: { prefix: /gone } }, backends: [{ service: nowhere }] }
    - { name: rest, backends: [{ service: reviews }] }
`,
  );
  await waitFor(
    'the route to take effect',
    async () => (await viaSidecar(product, 'http://reviews/gone')).status === 503,
  );
  assert.equal((await appBehind(product, 'http://reviews/')).app, 'reviews');
  await synced(cp, product);
});

test("the demo's canary: jason always reaches v2, everyone else mostly v1", async (t) => {
  const cp = await startTestControlPlane(t);
  const v1App = await startApp(t, 'reviews-v1');
  const v2App = await startApp(t, 'reviews-v2');
  const productApp = await startApp(t, 'productpage');
  const v1 = await launch(t, [cp.url], 'reviews', v1App.port, { version: 'v1' });
  const v2 = await launch(t, [cp.url], 'reviews', v2App.port, { version: 'v2' });
  const product = await launch(t, [cp.url], 'productpage', productApp.port);
  const canary = readFileSync(new URL('../../examples/demo/canary.yaml', import.meta.url), 'utf8');
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=canary.yaml', canary)).status, 200);

  // Both versions ready, and the product page's sidecar knows them as healthy endpoints.
  await waitFor('both versions healthy at productpage', async () => {
    const { config } = await configDump(product);
    return ['outbound:reviews-v1.default', 'outbound:reviews-v2.default'].every((name) =>
      config.clusters.find((c) => c.name === name)?.endpoints.some((e) => e.healthy),
    );
  });
  assert.ok((await storedReady(cp, v1)) && (await storedReady(cp, v2)));

  for (let i = 0; i < 20; i++) {
    const res = await httpRequest(`http://127.0.0.1:${product.ports.outbound}`, {
      path: 'http://reviews/',
      headers: { host: 'reviews', 'end-user': 'jason' },
    });
    assert.equal((JSON.parse(res.text) as { app: string }).app, 'reviews-v2');
  }
  const seen = { 'reviews-v1': 0, 'reviews-v2': 0 };
  for (let i = 0; i < 60; i++) seen[(await appBehind(product, 'http://reviews/')).app as keyof typeof seen]++;
  assert.equal(seen['reviews-v1'] + seen['reviews-v2'], 60);
  // 90/10: a v1 share under a half would be a broken split (the odds by chance are below 1e-15).
  assert.ok(seen['reviews-v1'] > 30, JSON.stringify(seen));
});

test('readiness follows the app: down → ready=false, up → true, down again → false', async (t) => {
  const cp = await startTestControlPlane(t);
  const appPort = await freePort();
  const details = await launch(t, [cp.url], 'details', appPort);
  await details.control.firstSnapshot;
  const admin = `http://127.0.0.1:${details.ports.admin}/ready`;
  assert.equal(await storedReady(cp, details), false);
  assert.equal((await httpRequest(admin)).status, 503);

  const app = await startApp(t, 'details', appPort);
  await waitFor('ready=true', async () => (await storedReady(cp, details)) === true);
  assert.equal((await httpRequest(admin)).status, 200);

  await app.close();
  await waitFor('ready=false', async () => (await storedReady(cp, details)) === false);
  assert.equal((await httpRequest(admin)).status, 503);

  // Stopping says goodbye: the workload leaves now, not when its heartbeats lapse.
  await details.stop();
  await waitFor('the workload to leave', async () => (await storedReady(cp, details)) === undefined, 2000);
});

test('a pushed snapshot that fails validation is NACKed and the old config keeps serving', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviewsApp = await startApp(t, 'reviews');
  const productApp = await startApp(t, 'productpage');
  await launch(t, [cp.url], 'reviews', reviewsApp.port); // the server side, straight to the control plane
  const relay = await startRelay(t, cp.url);
  const product = await launch(t, [relay.url], 'productpage', productApp.port);
  await waitFor(
    'reviews to be reachable',
    async () => (await viaSidecar(product, 'http://reviews/')).status === 200,
  );
  const good = await synced(cp, product);
  assert.equal((await configDump(product)).version, good.acked);

  // The next snapshot reaches the proxy with a route to a cluster that does not exist.
  relay.tamper = (config) => {
    config.routeTables
      .find((rt) => rt.name === 'outbound')
      ?.virtualHosts.push({
        name: 'bogus',
        domains: ['bogus'],
        routes: [{ name: 'bogus', backends: [{ cluster: 'outbound:nowhere', weight: 1 }] }],
      });
  };
  await api(cp.url, 'POST', '/api/v1/apply?file=policy.yaml', policyYaml('reviews', '3s'));
  const rejected = await waitFor('the NACK', async () => {
    const s = await proxyStatus(cp.url, product.registration.name);
    return s?.nacked !== undefined && s;
  });
  assert.match(rejected.nacked?.error ?? '', /unknown cluster "outbound:nowhere"/);
  assert.equal(rejected.acked, good.acked);
  assert.equal(product.control.version, good.acked);

  // Still serving the last good config, unchanged.
  assert.equal((await appBehind(product, 'http://reviews/')).app, 'reviews');
  const dump = await configDump(product);
  assert.equal(dump.version, good.acked);
  assert.equal(dump.config.clusters.find((c) => c.name === 'outbound:reviews.default')?.connectTimeout, 1000);

  // A good snapshot after that is taken, and proxy-status no longer reports the rejection.
  relay.tamper = undefined;
  await api(cp.url, 'POST', '/api/v1/apply?file=policy.yaml', policyYaml('reviews', '4s'));
  const fixed = await synced(cp, product);
  assert.equal(fixed.nacked, undefined);
  const now = await configDump(product);
  assert.equal(now.version, fixed.acked);
  assert.equal(now.config.clusters.find((c) => c.name === 'outbound:reviews.default')?.connectTimeout, 4000);
  assert.equal((await appBehind(product, 'http://reviews/')).app, 'reviews');
});

test('a control plane that goes silent without closing the stream is left, and the sidecar reconnects', async (t) => {
  const cp = await startTestControlPlane(t, { push: { heartbeatMs: 100 } });
  const app = await startApp(t, 'reviews');
  const relay = await startTcpRelay(t, cp.url);
  const reviews = await launch(t, [relay.url], 'reviews', app.port);
  const before = await synced(cp, reviews);

  // The stream is black-holed: no FIN, no RST, no bytes either way.
  relay.freeze();
  const after = await waitFor('a new stream', async () => {
    const s = await synced(cp, reviews);
    return s.connectedAt !== before.connectedAt && s;
  });
  assert.ok(Number(after.acked) >= Number(before.acked));
  assert.equal((await httpRequest(`http://127.0.0.1:${reviews.ports.admin}/ready`)).status, 200);
});
