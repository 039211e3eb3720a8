// Sidecars under a control plane with its CA: each gets a certificate for the SPIFFE ID its join
// token proves, sidecar-to-sidecar traffic is mTLS, and the callee learns who called.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { CloseCode, PROTOCOL_VERSION, STREAM_PATH } from '../control/protocol.ts';
import { api, defer, httpRequest, registration, startTestControlPlane, waitFor } from '../control/testing.ts';
import { configDump, launch, startApp, viaSidecar } from './testing.ts';

/** An app that answers with the x-forwarded-client-cert its sidecar set. */
async function startXfccApp(t: TestContext): Promise<number> {
  const server = http.createServer((req, res) => {
    res.end(JSON.stringify({ xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(
    t,
    () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  );
  return (server.address() as net.AddressInfo).port;
}

async function joinToken(base: string, serviceAccount: string): Promise<string> {
  const res = await api<{ token: string }>(
    base,
    'POST',
    '/api/v1/tokens',
    JSON.stringify({ namespace: 'default', serviceAccount }),
    { contentType: 'application/json' },
  );
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.token;
}

test('sidecars get SPIFFE certificates with join tokens; traffic between them is mTLS', async (t) => {
  const cp = await startTestControlPlane(t, { streamAuth: true });
  const reviewsPort = await startXfccApp(t);
  const webApp = await startApp(t, 'web');
  const reviews = await launch(t, [cp.url], 'reviews', reviewsPort, {
    joinToken: await joinToken(cp.url, 'reviews'),
  });
  const web = await launch(t, [cp.url], 'web', webApp.port, { joinToken: await joinToken(cp.url, 'web') });
  await Promise.all([reviews.control.firstSnapshot, web.control.firstSnapshot]);

  const res = await waitFor('reviews through mTLS', async () => {
    const r = await viaSidecar(web, 'http://reviews/');
    return r.status === 200 ? r : undefined;
  });
  const { xfcc } = JSON.parse(res.text) as { xfcc: string };
  assert.equal(
    xfcc,
    'By=spiffe://cluster.local/ns/default/sa/reviews;URI=spiffe://cluster.local/ns/default/sa/web',
  );

  // The cluster to reviews checks its identity; the dump never shows the private key.
  const dump = await configDump(web);
  const cluster = dump.config.clusters.find((c) => c.name === 'outbound:reviews.default');
  assert.deepEqual(cluster?.mtls?.identities, ['spiffe://cluster.local/ns/default/sa/reviews']);
  assert.equal(dump.config.secrets?.privateKey, '[redacted]');
  assert.match(dump.config.secrets?.certChain ?? '', /BEGIN CERTIFICATE/);

  // The inbound side speaks mesh TLS 1.3 and shows a certificate for reviews' SPIFFE ID.
  const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: reviews.ports.inbound, rejectUnauthorized: false });
    s.once('secureConnect', () => {
      assert.equal(s.getProtocol(), 'TLSv1.3');
      resolve(s.getPeerCertificate());
      s.destroy();
    });
    s.once('error', reject);
  });
  assert.match(peer.subjectaltname ?? '', /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews/);

  // PERMISSIVE (the default): a plaintext caller still reaches the app, with no identity.
  const plain = await httpRequest(`http://127.0.0.1:${reviews.ports.inbound}/`);
  assert.equal(plain.status, 200);
  assert.deepEqual(JSON.parse(plain.text), { xfcc: null });
});

test('a join token for one service account cannot get a certificate for another', async (t) => {
  const cp = await startTestControlPlane(t, { streamAuth: true });
  const stolen = await joinToken(cp.url, 'web');
  const open = async (token: string | undefined): Promise<WebSocket> => {
    const ws = new WebSocket(new URL(STREAM_PATH, cp.url.replace(/^http/, 'ws')).toString(), {
      ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
    defer(t, () => ws.terminate());
    await once(ws, 'open');
    return ws;
  };
  const refusal = async (ws: WebSocket, serviceAccount: string): Promise<{ code: string; close: number }> => {
    const messages: { type: string; code?: string }[] = [];
    ws.on('message', (d) => messages.push(JSON.parse(String(d)) as { type: string; code?: string }));
    const reg = registration('billing-1', { service: 'billing' });
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        proxy: { id: 'x', trellis: 't' },
        workload: { ...reg, spec: { ...reg.spec, serviceAccount } },
      }),
    );
    ws.send(JSON.stringify({ type: 'csr', id: 1, csr: 'not even a CSR' }));
    const [close] = (await once(ws, 'close')) as [number];
    assert.ok(
      !messages.some((m) => m.type === 'welcome' || m.type === 'certificate'),
      JSON.stringify(messages),
    );
    return { code: messages.find((m) => m.type === 'error')?.code ?? '', close };
  };
  // web's token, billing's workload: refused before registration, no welcome, no certificate.
  assert.deepEqual(await refusal(await open(stolen), 'billing'), {
    code: 'TRELLIS_TOKEN_WRONG_ACCOUNT',
    close: CloseCode.unauthorized,
  });
  assert.deepEqual(await refusal(await open(undefined), 'billing'), {
    code: 'TRELLIS_UNAUTHENTICATED',
    close: CloseCode.unauthorized,
  });
  assert.deepEqual(await refusal(await open(`${stolen}x`), 'web'), {
    code: 'TRELLIS_TOKEN_INVALID',
    close: CloseCode.unauthorized,
  });
  const proxies = await api<{ items: unknown[] }>(cp.url, 'GET', '/api/v1/proxies');
  assert.deepEqual(proxies.body.items, []);
});

test('Istio PeerAuthentication and AuthorizationPolicy applied through the control plane', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviewsPort = await startXfccApp(t);
  const reviews = await launch(t, [cp.url], 'reviews', reviewsPort);
  const web = await launch(t, [cp.url], 'web', (await startApp(t, 'web')).port);
  const ratings = await launch(t, [cp.url], 'ratings', (await startApp(t, 'ratings')).port);
  const policies = `apiVersion: security.istio.io/v1
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
  const applied = await api(cp.url, 'POST', '/api/v1/apply?file=security.yaml', policies);
  assert.equal(applied.status, 200, JSON.stringify(applied.body));
  await waitFor('the policies in force', async () => {
    const dump = await configDump(reviews);
    return dump.config.inboundSecurity.authorization.length === 1 &&
      dump.config.listeners.find((l) => l.name === 'inbound')?.mtls?.mode === 'STRICT'
      ? true
      : undefined;
  });
  await Promise.all(
    [web, ratings].map((s) =>
      waitFor(
        'reviews known',
        async () => (await viaSidecar(s, 'http://reviews/reviews/1')).status !== 404 || undefined,
      ),
    ),
  );
  assert.equal((await viaSidecar(web, 'http://reviews/reviews/1')).status, 200);
  const post = await viaSidecar(web, 'http://reviews/reviews/1', { method: 'POST' });
  assert.equal(post.status, 403);
  assert.equal(post.text.trim(), 'RBAC: access denied');
  assert.equal((await viaSidecar(web, 'http://reviews/other')).status, 403);
  assert.equal((await viaSidecar(ratings, 'http://reviews/reviews/1')).status, 403);
  // STRICT: a plaintext caller is not even answered.
  await assert.rejects(httpRequest(`http://127.0.0.1:${reviews.ports.inbound}/reviews/1`));
});
