// GET /api/v1/proxies/ID/config against a real control plane: the version in force follows the
// proxy's ACKs (a sent but unanswered snapshot is pending, a NACKed one rejected and the old one
// stays), readers may read, an unknown proxy is a 404 with a stable code, and a real sidecar's
// config comes back with its certificate summarised and no private key anywhere.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { launch, startApp, synced } from '../sidecar/testing.ts';
import { scrubPrivateKeys, summarise, type ProxyConfigView } from './api-proxy-config.ts';
import { SentConfigs } from './sent-configs.ts';
import {
  api,
  httpRequest,
  registration,
  serviceYaml,
  startTestControlPlane,
  StreamClient,
  waitFor,
  type ApiErrorBody,
} from './testing.ts';
import { ProxyConfig } from '../model/schema.ts';

const configPath = (id: string): string => `/api/v1/proxies/${encodeURIComponent(id)}/config`;

test('the config in force follows ACKs: pending until answered, a NACK leaves the old one', async (t) => {
  const cp = await startTestControlPlane(t);
  const c = await StreamClient.connect(t, cp.url);
  const reg = registration('reviews-pc');
  const id = `${reg.name}.${reg.namespace}`;
  const get = () =>
    api<ProxyConfigView>(cp.url, 'GET', configPath(id), undefined, { token: cp.readerToken ?? null });

  // Registered but nothing ACKed yet: no config in force, the first snapshot pending.
  const first = await c.register(reg, { ack: false });
  const before = await get();
  assert.equal(before.status, 200, JSON.stringify(before.body));
  assert.equal(before.body.inForce, null);
  assert.equal(before.body.config, null);
  assert.equal(before.body.pending, first.version);
  assert.deepEqual(before.body.proxy, { ...before.body.proxy, id, workload: reg.name, namespace: 'default' });

  c.send({ type: 'ack', version: first.version });
  const acked = await waitFor('the ACK', async () => {
    const r = await get();
    return r.body.inForce === first.version && r.body;
  });
  assert.equal(acked.pending, undefined);
  assert.equal(acked.rejected, undefined);
  assert.ok(acked.config !== null && acked.config.listeners.length > 0);
  assert.equal(acked.config.node.id, reg.name);
  // The mesh runs a CA: the snapshot's trust bundle is summarised, never sent as PEM.
  assert.equal(acked.secrets.trustBundle.length, 1);
  assert.equal(acked.secrets.trustBundle[0]?.isCa, true);
  assert.equal(acked.secrets.certificateSource, 'none', 'this raw stream never asked for a certificate');

  // A change is pushed; unanswered it is pending, NACKed it is rejected; the first stays in force.
  await api(cp.url, 'POST', '/api/v1/apply?file=ratings.yaml', serviceYaml('ratings'));
  const second = await c.nextSnapshot(1);
  const pending = await get();
  assert.equal(pending.body.inForce, first.version);
  assert.equal(pending.body.pending, second.version);
  assert.ok(!pending.body.config?.clusters.some((cl) => cl.name.includes('ratings')));
  c.send({ type: 'nack', version: second.version, error: 'port in use' });
  const rejected = await waitFor('the NACK', async () => {
    const r = await get();
    return r.body.rejected !== undefined && r.body;
  });
  assert.deepEqual(rejected.rejected, { version: second.version, error: 'port in use' });
  assert.equal(rejected.inForce, first.version);
  assert.equal(rejected.pending, undefined);

  // The next one is taken: in force, and the rejection is history.
  await api(cp.url, 'POST', '/api/v1/apply?file=details.yaml', serviceYaml('details'));
  const third = await c.nextSnapshot(2);
  c.send({ type: 'ack', version: third.version });
  const now = await waitFor('the third in force', async () => {
    const r = await get();
    return r.body.inForce === third.version && r.body;
  });
  assert.equal(now.rejected, undefined);
  assert.ok(now.config?.clusters.some((cl) => cl.name.includes('details')));

  // Unknown proxy: 404 with a stable code; without a token: 401.
  const unknown = await api<ApiErrorBody>(cp.url, 'GET', configPath('nobody.default'));
  assert.equal(unknown.status, 404);
  assert.equal(unknown.body.error.code, 'TRELLIS_PROXY_NOT_FOUND');
  assert.equal((await api(cp.url, 'GET', configPath(id), undefined, { token: null })).status, 401);
});

test('a real sidecar: its certificate summarised with its SPIFFE ID, no private key in the body', async (t) => {
  const cp = await startTestControlPlane(t);
  const sidecar = await launch(t, [cp.url], 'reviews', (await startApp(t, 'reviews')).port);
  const status = await synced(cp, sidecar);
  const view = await waitFor('the certificate', async () => {
    const res = await httpRequest(`${cp.url}${configPath(status.id)}`);
    assert.equal(res.status, 200, res.text);
    assert.doesNotMatch(res.text, /PRIVATE KEY/);
    assert.doesNotMatch(res.text, /-----BEGIN/, 'certificates are summarised, not sent as PEM');
    const body = JSON.parse(res.text) as ProxyConfigView;
    return body.secrets.certificate.length > 0 && body;
  });
  assert.equal(view.inForce, status.acked);
  assert.equal(view.secrets.certificateSource, 'issued');
  const [leaf] = view.secrets.certificate;
  assert.equal(leaf?.spiffeId, 'spiffe://cluster.local/ns/default/sa/reviews');
  assert.equal(leaf?.isCa, false);
  assert.equal(leaf?.serial, status.certificate?.serial.toLowerCase());
  assert.equal(leaf?.issuer, view.secrets.trustBundle[0]?.subject);
  assert.ok(Date.parse(leaf?.notBefore ?? '') < Date.now() && Date.parse(leaf?.notAfter ?? '') > Date.now());
  assert.deepEqual(view.config?.listeners.map((l) => l.direction).sort(), ['inbound', 'outbound']);
});

test('scrubPrivateKeys replaces every PEM private key, wherever it is; summarise skips junk', () => {
  const key = '-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n';
  const scrubbed = scrubPrivateKeys({ a: [{ tls: { key } }], b: 'ok', n: 1, k: `x${key}` });
  assert.deepEqual(scrubbed, { a: [{ tls: { key: '[redacted]' } }], b: 'ok', n: 1, k: '[redacted]' });
  const junk = summarise('-----BEGIN CERTIFICATE-----\nnot base64 der\n-----END CERTIFICATE-----\n');
  assert.deepEqual(junk, { certs: [], unreadable: 1 });
});

test('SentConfigs: an ACK puts its version in force and drops what was sent before it', () => {
  const cfg = (v: string) => ProxyConfig.parse({ version: v });
  const s = new SentConfigs();
  s.sent('1', cfg('1'));
  assert.equal(s.inForce(), undefined);
  s.acked('1');
  assert.equal(s.inForce()?.version, '1');
  s.sent('2', cfg('2'));
  s.sent('3', cfg('3'));
  s.acked('9');
  assert.equal(s.inForce()?.version, '1', 'an ACK of a version never sent changes nothing');
  s.acked('3');
  assert.equal(s.inForce()?.config.version, '3');
  s.acked('2');
  assert.equal(s.inForce()?.version, '3', 'a late ACK of a superseded version is ignored');
  for (const v of ['4', '5', '6', '7']) s.sent(v, cfg(v));
  s.acked('4');
  assert.equal(s.inForce()?.version, '3', 'only the last few unanswered are kept');
  s.acked('7');
  assert.equal(s.inForce()?.version, '7');
});
