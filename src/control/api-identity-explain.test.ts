// POST /api/v1/authz/explain against real sidecars under Istio policies: what explain says is what
// the data plane does (200 for web, 403 for ratings, no answer to plaintext under STRICT), with the
// deciding policy, the resource it came from, and the field that did not match.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configDump, launch, startApp, viaSidecar } from '../sidecar/testing.ts';
import type { Explanation } from './api-identity-explain.ts';
import { api, httpRequest, startTestControlPlane, waitFor, type ApiErrorBody } from './testing.ts';

const POLICIES = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec:
  mtls: { mode: STRICT }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: reviews-readers, namespace: default }
spec:
  selector: { matchLabels: { app: reviews } }
  action: ALLOW
  rules:
    - from: [{ source: { principals: [cluster.local/ns/default/sa/web] } }]
      to: [{ operation: { methods: [GET], paths: [/reviews/*] } }]
`;

test('authz explain says what the sidecars do: ALLOWED for web, DENIED for ratings, plaintext refused by STRICT', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await launch(t, [cp.url], 'reviews', (await startApp(t, 'reviews')).port);
  const web = await launch(t, [cp.url], 'web', (await startApp(t, 'web')).port);
  const ratings = await launch(t, [cp.url], 'ratings', (await startApp(t, 'ratings')).port);
  assert.equal((await api(cp.url, 'POST', '/api/v1/apply?file=security.yaml', POLICIES)).status, 200);
  await waitFor('the policies in force', async () => {
    const dump = await configDump(reviews);
    return dump.config.inboundSecurity.authorization.length === 1 &&
      dump.config.listeners.find((l) => l.name === 'inbound')?.mtls?.mode === 'STRICT'
      ? true
      : undefined;
  });
  const explain = (body: unknown, token?: string | null) =>
    api<Explanation & ApiErrorBody>(cp.url, 'POST', '/api/v1/authz/explain', JSON.stringify(body), {
      contentType: 'application/json',
      token: token === undefined ? (cp.readerToken ?? null) : token,
    });

  // The data plane.
  await waitFor(
    'reviews known to web',
    async () => (await viaSidecar(web, 'http://reviews/reviews/1')).status === 200 || undefined,
  );
  assert.equal((await viaSidecar(ratings, 'http://reviews/reviews/1')).status, 403);
  await assert.rejects(httpRequest(`http://127.0.0.1:${reviews.ports.inbound}/reviews/1`));

  // Explain, as a reader.
  const allowed = await explain({ from: { serviceAccount: 'web' }, to: 'reviews', path: '/reviews/1' });
  assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
  assert.deepEqual(allowed.body.service, { name: 'reviews', namespace: 'default' });
  assert.equal(allowed.body.source.principal, 'spiffe://cluster.local/ns/default/sa/web');
  const [w] = allowed.body.workloads;
  assert.equal(w?.workload, reviews.registration.name);
  assert.equal(w?.mtls, 'STRICT');
  assert.equal(w?.allowed, true);
  assert.equal(w?.policy, 'default/reviews-readers');
  assert.deepEqual(w?.resources, ['AuthorizationPolicy/default/reviews-readers']);
  assert.equal(w?.reason, 'ALLOW policy default/reviews-readers rules[0] matched');

  const denied = (
    await explain({
      from: { serviceAccount: 'ratings', namespace: 'default' },
      to: 'reviews.default',
      path: '/reviews/1',
    })
  ).body.workloads[0];
  assert.equal(denied?.allowed, false);
  assert.equal(denied?.reason, 'no ALLOW policy matched');
  assert.equal(denied?.policies[0]?.name, 'default/reviews-readers');
  assert.deepEqual(denied?.policies[0]?.rules[0]?.mismatches, [
    'from[0].source.principals: cluster.local/ns/default/sa/ratings not in [cluster.local/ns/default/sa/web]',
  ]);
  const post = (
    await explain({ from: { serviceAccount: 'web' }, to: 'reviews', method: 'post', path: '/reviews/1' })
  ).body;
  assert.equal(post.request.method, 'POST');
  assert.deepEqual(post.workloads[0]?.policies[0]?.rules[0]?.mismatches, [
    'to[0].operation.methods: POST not in [GET]',
  ]);
  assert.equal((await viaSidecar(web, 'http://reviews/reviews/1', { method: 'POST' })).status, 403);

  const plain = (await explain({ from: { plaintext: true }, to: 'reviews' })).body.workloads[0];
  assert.equal(plain?.allowed, false);
  assert.equal(plain?.reachesAuthorization, false);
  assert.match(plain?.reason ?? '', /STRICT.*never reaches authorization/);
  assert.deepEqual(plain?.resources, ['PeerAuthentication/istio-system/default']);

  // A service without policies: allowed, and said why.
  const open = (await explain({ from: { plaintext: true }, to: 'web' })).body.workloads[0];
  assert.equal(open?.mtls, 'STRICT');
  assert.equal(open?.reachesAuthorization, false);
  const free = (
    await explain({ from: { serviceAccount: 'ratings' }, to: 'web', headers: { 'X-User': 'bob' } })
  ).body;
  assert.equal(free.workloads[0]?.allowed, true);
  assert.equal(free.workloads[0]?.reason, 'no authorization policies');
  assert.deepEqual(free.request.headers, { 'x-user': ['bob'] });
});

test('authz explain refusals: unknown service 404, bad bodies 400, no token 401', async (t) => {
  const cp = await startTestControlPlane(t);
  const explain = (body: string, token?: string | null) =>
    api<ApiErrorBody>(cp.url, 'POST', '/api/v1/authz/explain', body, {
      contentType: 'application/json',
      ...(token !== undefined ? { token } : {}),
    });
  const unknown = await explain(JSON.stringify({ from: { serviceAccount: 'web' }, to: 'nowhere' }));
  assert.equal(unknown.status, 404);
  assert.match(unknown.body.error.message, /service nowhere\.default not found/);
  const bad: [unknown, RegExp][] = [
    [{ to: 'reviews' }, /from/],
    [{ from: { serviceAccount: 'web' } }, /to/],
    [{ from: { plaintext: false }, to: 'x' }, /from/],
    [{ from: { serviceAccount: 'web' }, to: 'x', path: 'no-slash' }, /path/],
    [{ from: { serviceAccount: 'web' }, to: 'x', port: 0 }, /port/],
    [{ from: { serviceAccount: 'bad name!' }, to: 'x' }, /service account/],
  ];
  for (const [body, why] of bad) {
    const res = await explain(JSON.stringify(body));
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.message, why);
  }
  assert.equal((await explain('not json')).status, 400);
  const anonymous = await explain(JSON.stringify({ from: { serviceAccount: 'web' }, to: 'x' }), null);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body.error.code, 'TRELLIS_UNAUTHENTICATED');
  const wrong = await explain(
    JSON.stringify({ from: { serviceAccount: 'web' }, to: 'x' }),
    'trellis-admin.wrong',
  );
  assert.equal(wrong.status, 401);
});
