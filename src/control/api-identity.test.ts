// The CA and identity routes against a real control plane with real sidecars: CA info, a root
// rotation refused while proxies hold old-root certificates and finished once they renewed (mTLS
// still working), a CA from files refusing to rotate, and a workload's certificate chain.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createCsr, generateWorkloadKey } from '../identity/csr.ts';
import { createCaCertificate } from '../identity/root.ts';
import { chainsTo, parseCertificates } from './api-identity-checks.ts';
import type { CaView, IdentityView } from './api-identity.ts';
import {
  api,
  registration,
  startTestControlPlane,
  StreamClient,
  tempDir,
  waitFor,
  type ApiErrorBody,
} from './testing.ts';
import { launch, startApp, viaSidecar } from '../sidecar/testing.ts';

const post = <T>(base: string, path: string, token?: string | null) =>
  api<T & ApiErrorBody>(base, 'POST', path, '', {
    contentType: 'application/json',
    ...(token !== undefined ? { token } : {}),
  });

test('GET /api/v1/ca: trust domain, the root, the signer; readers may read, only the admin rotates', async (t) => {
  const cp = await startTestControlPlane(t, { identity: { trustDomain: 'example.org' } });
  const info = await api<CaView>(cp.url, 'GET', '/api/v1/ca', undefined, { token: cp.readerToken ?? null });
  assert.equal(info.status, 200);
  assert.equal(info.body.trustDomain, 'example.org');
  assert.equal(info.body.managed, 'self');
  assert.equal(info.body.roots.length, 1);
  const [root] = info.body.roots;
  assert.equal(root?.current, true);
  assert.match(root?.fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.ok(Date.parse(root?.notAfter ?? '') > Date.now() + 5 * 365 * 86_400_000);
  assert.equal(info.body.signer.subject, root?.subject);
  assert.deepEqual(info.body.rotation, { inProgress: false, pending: [] });

  assert.equal((await api(cp.url, 'GET', '/api/v1/ca', undefined, { token: null })).status, 401);
  const asReader = await post(cp.url, '/api/v1/ca/rotate', cp.readerToken ?? null);
  assert.equal(asReader.status, 403);
  assert.equal(asReader.body.error.code, 'TRELLIS_FORBIDDEN');
  assert.equal((await post(cp.url, '/api/v1/ca/finish-rotation', cp.readerToken ?? null)).status, 403);
  assert.equal(cp.identity?.ca.info().roots.length, 1, 'nothing rotated');
});

/** A raw push stream registered as `name`, holding a certificate it never renews. */
async function laggard(t: TestContext, base: string, name: string): Promise<StreamClient> {
  const client = await StreamClient.connect(t, base);
  await client.register(registration(name, { service: 'laggard' }));
  const welcome = client.messages.find((m) => m.type === 'welcome');
  const spiffeId = welcome?.type === 'welcome' ? (welcome.identity ?? '') : '';
  const { keys } = await generateWorkloadKey();
  client.send({ type: 'csr', id: 1, csr: await createCsr(keys, spiffeId) });
  await client.waitMessage('its certificate', (m) => m.type === 'certificate');
  return client;
}

test('a root rotation: refused to finish while a proxy holds an old-root certificate, finished once all renewed', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await launch(t, [cp.url], 'reviews', (await startApp(t, 'reviews')).port);
  const web = await launch(t, [cp.url], 'web', (await startApp(t, 'web')).port);
  const slow = await laggard(t, cp.url, 'laggard-1');
  const reach = () =>
    waitFor(
      'web → reviews over mTLS',
      async () => (await viaSidecar(web, 'http://reviews/x')).status === 200 || undefined,
      15_000,
    );
  await reach();
  const identity = (name: string) => api<IdentityView>(cp.url, 'GET', `/api/v1/identities/default/${name}`);
  const before = await identity(reviews.registration.name);
  assert.equal(before.status, 200);

  const rotated = await post<CaView>(cp.url, '/api/v1/ca/rotate');
  assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
  assert.equal(rotated.body.roots.length, 2);
  assert.deepEqual(
    rotated.body.roots.map((r) => r.current),
    [true, false],
  );
  assert.equal(rotated.body.rotation.inProgress, true);
  assert.ok(Date.parse(rotated.body.rotation.startedAt ?? '') <= Date.now());
  // Renewals are asked for a second after the new bundle went out: every proxy is still on the old root.
  assert.deepEqual(
    rotated.body.rotation.pending.map((p) => p.workload).sort(),
    ['laggard-1', reviews.registration.name, web.registration.name].sort(),
  );
  const again = await post(cp.url, '/api/v1/ca/rotate');
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, 'TRELLIS_ROTATION_IN_PROGRESS');

  // The sidecars renew when the control plane asks; the raw stream never does.
  await waitFor(
    'the sidecars to renew',
    async () => {
      const info = await api<CaView>(cp.url, 'GET', '/api/v1/ca');
      const pending = info.body.rotation.pending.map((p) => p.workload);
      return (pending.length === 1 && pending[0] === 'laggard-1') || undefined;
    },
    20_000,
    100,
  );
  const early = await post(cp.url, '/api/v1/ca/finish-rotation');
  assert.equal(early.status, 409);
  assert.equal(early.body.error.code, 'TRELLIS_ROTATION_PENDING');
  assert.match(
    early.body.error.message,
    /1 connected proxy still holds a certificate from an older root \(default\/laggard-1\)/,
  );
  await reach();

  slow.ws.terminate();
  const finished = await waitFor(
    'finish-rotation to be accepted',
    async () => {
      const r = await post<CaView & { finished: boolean }>(cp.url, '/api/v1/ca/finish-rotation');
      return r.status === 200 ? r.body : undefined;
    },
    5000,
    50,
  );
  assert.equal(finished.finished, true);
  assert.equal(finished.roots.length, 1);
  assert.equal(finished.rotation.inProgress, false);
  const newRoot = parseCertificates(cp.identity?.ca.trustBundlePem() ?? '')[0]!;
  assert.equal(finished.roots[0]?.fingerprint, newRoot.fingerprint256);
  const after = await identity(reviews.registration.name);
  assert.notEqual(after.body.serial, before.body.serial);
  assert.ok(chainsTo(parseCertificates(after.body.chainPem), newRoot), 'renewed under the new root');
  // Only the new root is trusted now, and traffic still flows (the bundle reached both proxies).
  await reach();

  // Nothing to finish: answered, not refused.
  const noop = await post<{ finished: boolean }>(cp.url, '/api/v1/ca/finish-rotation');
  assert.equal(noop.status, 200);
  assert.equal(noop.body.finished, false);
});

test('finish-rotation?force=1 drops the old root even while proxies still hold its certificates', async (t) => {
  const cp = await startTestControlPlane(t);
  await launch(t, [cp.url], 'reviews', (await startApp(t, 'reviews')).port);
  await waitFor('a certificate', async () => {
    const s = (await api<{ items: { certificate?: unknown }[] }>(cp.url, 'GET', '/api/v1/proxies')).body;
    return s.items[0]?.certificate !== undefined || undefined;
  });
  assert.equal((await post(cp.url, '/api/v1/ca/rotate')).status, 200);
  const forced = await post<CaView & { finished: boolean }>(cp.url, '/api/v1/ca/finish-rotation?force=1');
  assert.equal(forced.status, 200);
  assert.equal(forced.body.finished, true);
  assert.equal(cp.identity?.ca.info().roots.length, 1);
});

test('a CA from files cannot be rotated through the API (409 TRELLIS_CA_EXTERNAL)', async (t) => {
  const dir = tempDir(t);
  const ca = await createCaCertificate({ subject: 'O=Acme, CN=Acme Mesh CA', ttlMs: 10 * 86_400_000 });
  const files = { caCertFile: join(dir, 'ca-cert.pem'), caKeyFile: join(dir, 'ca-key.pem') };
  writeFileSync(files.caCertFile, ca.certPem);
  writeFileSync(files.caKeyFile, ca.keyPem);
  const cp = await startTestControlPlane(t, { identity: files });
  const info = await api<CaView>(cp.url, 'GET', '/api/v1/ca');
  assert.equal(info.body.managed, 'files');
  assert.equal(info.body.signer.subject, 'O=Acme, CN=Acme Mesh CA');
  for (const path of ['/api/v1/ca/rotate', '/api/v1/ca/finish-rotation']) {
    const res = await post(cp.url, path);
    assert.equal(res.status, 409, path);
    assert.equal(res.body.error.code, 'TRELLIS_CA_EXTERNAL');
    assert.match(res.body.error.message, /files/);
  }
});

test("GET /api/v1/identities/NS/WORKLOAD: the proxy's chain, parsed; 404 when no proxy or no CA", async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await launch(t, [cp.url], 'reviews', (await startApp(t, 'reviews')).port);
  const path = `/api/v1/identities/default/${reviews.registration.name}`;
  const id = await waitFor('the certificate', async () => {
    const r = await api<IdentityView>(cp.url, 'GET', path, undefined, { token: cp.readerToken ?? null });
    return r.status === 200 ? r.body : undefined;
  });
  assert.equal(id.spiffeId, 'spiffe://cluster.local/ns/default/sa/reviews');
  assert.equal(id.chain.length, 1, 'a self-managed root signs leaves directly; the root is not sent');
  const [leaf] = id.chain;
  assert.deepEqual(leaf?.uriSans, [id.spiffeId]);
  assert.equal(leaf?.serial, id.serial);
  assert.equal(leaf?.isCa, false);
  assert.equal(leaf?.issuer, cp.identity?.ca.info().roots[0]?.subject);
  assert.equal(leaf?.notAfter, new Date(id.notAfter).toISOString());
  const life = Date.parse(leaf?.notAfter ?? '') - Date.parse(leaf?.notBefore ?? '');
  assert.ok(life > 23 * 3_600_000 && life <= 24 * 3_600_000 + 120_000, `lifetime ${life}`);
  assert.match(id.chainPem, /^-----BEGIN CERTIFICATE-----/);

  const missing = await api<ApiErrorBody>(cp.url, 'GET', '/api/v1/identities/default/nobody');
  assert.equal(missing.status, 404);
  assert.match(missing.body.error.message, /no proxy of workload default\/nobody/);

  const plain = await startTestControlPlane(t, { identity: false });
  const unsecured = await launch(t, [plain.url], 'web', (await startApp(t, 'web')).port);
  await unsecured.control.firstSnapshot;
  const none = await api<ApiErrorBody>(
    plain.url,
    'GET',
    `/api/v1/identities/default/${unsecured.registration.name}`,
  );
  assert.equal(none.status, 404);
  assert.match(none.body.error.message, /without a CA/);
  const noCa = await api<ApiErrorBody>(plain.url, 'GET', '/api/v1/ca');
  assert.equal(noCa.status, 404);
  assert.equal(noCa.body.error.code, 'TRELLIS_CA_DISABLED');
});
