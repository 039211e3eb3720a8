// GET /api/v1/services/NS/NAME beyond the mesh state: the security resources that apply to the
// service's workloads, and per endpoint the callers whose outlier detection ejected it — fed by
// hand on a push stream, then end to end by real sidecars calling an app that always fails.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { launch, startApp, viaSidecar } from '../sidecar/testing.ts';
import type { ServiceDescription } from './describe.ts';
import { api, defer, registration, startTestControlPlane, StreamClient, waitFor } from './testing.ts';

const SECURITY = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: STRICT } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-readers, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: ALLOW
  rules: [{ from: [{ source: { principals: [cluster.local/ns/default/sa/web] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ratings-only, namespace: default }
spec:
  selector: { matchLabels: { app: ratings } }
  action: ALLOW
`;

const describe = async (url: string, name: string): Promise<ServiceDescription> => {
  const res = await api<ServiceDescription>(url, 'GET', `/api/v1/services/default/${name}`);
  assert.equal(res.status, 200);
  return res.body;
};

test('describe: the security policies of the workloads; ejections as the callers last reported', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-v1-a', { service: 'reviews' });
  await reviews.register(reg);
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=sec.yaml', SECURITY)).status, 200);
  const d = await describe(cp.url, 'reviews');
  assert.deepEqual(d.securityPolicies, [
    'AuthorizationPolicy/default/reviews-readers',
    'PeerAuthentication/istio-system/default',
  ]);
  assert.deepEqual(
    d.endpoints.map((e) => e.ejectedBy),
    [[]],
  );

  const web = await StreamClient.connect(t, cp.url);
  await web.register(registration('web-v1-a', { service: 'web' }));
  await web.waitMessage('report-ejections', (m) => m.type === 'report-ejections');
  const untilMs = Date.parse('2030-01-01T00:00:00Z');
  const cluster = 'outbound|reviews.default';
  const endpoint = { cluster, address: reg.spec.address, port: reg.spec.ports.inbound, untilMs };
  const other = { ...endpoint, port: 1 }; // no workload of reviews listens there
  web.send({ type: 'stats', ejected: [endpoint, other] });
  const ejected = await waitFor('the ejection', async () => {
    const e = (await describe(cp.url, 'reviews')).endpoints[0]?.ejectedBy;
    return e !== undefined && e.length > 0 && e;
  });
  assert.deepEqual(ejected, [{ proxy: 'web-v1-a.default', cluster, until: '2030-01-01T00:00:00.000Z' }]);
  // A report without the field changes nothing; an empty list lifts it.
  web.send({ type: 'stats' });
  web.send({ type: 'stats', ejected: [] });
  await waitFor(
    'no ejection',
    async () => (await describe(cp.url, 'reviews')).endpoints[0]?.ejectedBy.length === 0,
  );
  // The stream that said it ends: what it said goes with it.
  web.send({ type: 'stats', ejected: [endpoint] });
  await waitFor(
    'the ejection again',
    async () => (await describe(cp.url, 'reviews')).endpoints[0]?.ejectedBy.length === 1,
  );
  web.ws.close();
  await waitFor(
    'the session to end',
    async () => (await describe(cp.url, 'reviews')).endpoints[0]?.ejectedBy.length === 0,
  );
});

/** An app that fails every request. */
async function failingApp(t: TestContext): Promise<number> {
  const server = http.createServer((_req, res) => {
    res.writeHead(503, { 'content-length': 4 });
    res.end('down');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(
    t,
    () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  );
  return (server.address() as net.AddressInfo).port;
}

const POLICY = `apiVersion: trellis.io/v1alpha1
kind: TrafficPolicy
metadata: { name: reviews-outliers }
spec:
  service: reviews
  outlierDetection: { consecutive5xx: 2, baseEjectionTime: 60s, maxEjectionPercent: 100 }
`;

test('describe end to end: the endpoint web ejected, until web goes', { timeout: 30_000 }, async (t) => {
  const cp = await startTestControlPlane(t, { push: { statsIntervalMs: 100 } });
  const reviews = await launch(t, [cp.url], 'reviews', await failingApp(t));
  const web = await launch(t, [cp.url], 'web', (await startApp(t, 'web')).port);
  await Promise.all([reviews.control.firstSnapshot, web.control.firstSnapshot]);
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=policy.yaml', POLICY)).status, 200);
  // Web fails its calls in its own sidecar until it knows reviews and its outlier detection; then
  // two 503s in a row eject reviews, and web's next stats report says so.
  const [ejection] = await waitFor(
    'the ejection in describe',
    async () => {
      await viaSidecar(web, 'http://reviews/');
      const e = (await describe(cp.url, 'reviews')).endpoints[0]?.ejectedBy;
      return e !== undefined && e.length > 0 && e;
    },
    10_000,
  );
  assert.equal(ejection?.proxy, `${web.registration.name}.default`);
  const left = Date.parse(ejection?.until ?? '') - Date.now();
  assert.ok(left > 30_000 && left <= 60_000, `${left} ms of the 60 s ejection left`);
  await web.stop();
  await waitFor(
    'web gone, its ejection too',
    async () => (await describe(cp.url, 'reviews')).endpoints[0]?.ejectedBy.length === 0,
  );
});
