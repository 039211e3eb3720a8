// `trellis check`'s checks: pure, on certificates from a real CA at chosen times (renewal overdue,
// expired, wrong identity, a rotation left open, a CA about to expire, clocks), then GET /api/v1/check
// on a real control plane with a real sidecar and a raw stream with no certificate and a wrong clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CaInfo } from '../identity/ca.ts';
import { issueWorkload, openTestCa } from '../identity/testing.ts';
import { launch, startApp } from '../sidecar/testing.ts';
import {
  expiry,
  humanDuration,
  parseCertificates,
  securityChecks,
  skewCheck,
  type CheckInput,
  type SecurityCheck,
} from './api-identity-checks.ts';
import type { ProxyStatus } from './push-server.ts';
import { api, registration, startTestControlPlane, StreamClient, waitFor } from './testing.ts';

const HOUR = 3_600_000;
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

function proxy(chain: string, o: Partial<ProxyStatus> = {}): ProxyStatus {
  const leaf = parseCertificates(chain)[0]!;
  return {
    id: 'web-1.default',
    workload: 'web-1',
    namespace: 'default',
    connectedAt: new Date().toISOString(),
    certificate: {
      spiffeId: WEB,
      serial: leaf.serialNumber.toLowerCase(),
      issuedAt: new Date().toISOString(),
      notAfter: leaf.validToDate.toISOString(),
      chain,
    },
    ...o,
  };
}

const failing = (checks: SecurityCheck[]) =>
  checks.filter((c) => !c.ok).map((c) => ({ name: c.name, severity: c.severity, message: c.message }));

test('checks: a healthy proxy passes; overdue renewal warns; expiry and a foreign identity are errors', async (t) => {
  let clock = Date.now();
  const ca = await openTestCa(t, { now: () => clock });
  const { certChainPem } = await issueWorkload(ca, WEB, HOUR);
  const issued = clock;
  const input = (o: Partial<CheckInput> = {}): CheckInput => ({
    now: clock,
    ca: { info: ca.info(), roots: parseCertificates(ca.trustBundlePem()) },
    trustDomain: 'cluster.local',
    proxies: [proxy(certChainPem, { clockSkewMs: 12 })],
    serviceAccounts: new Map([['default/web-1', 'web']]),
    ...o,
  });
  const healthy = securityChecks(input());
  assert.deepEqual(failing(healthy), []);
  assert.deepEqual(
    healthy.map((c) => c.name),
    ['ca-signer', 'ca-root', 'proxy-certificates', 'proxy-renewal', 'proxy-identity', 'proxy-clock'],
  );
  assert.match(healthy[0]?.message ?? '', /^CA signer .* is valid \(expires in \d+d\)$/);
  assert.match(healthy[5]?.message ?? '', /largest difference 12ms/);

  clock = issued + 55 * 60_000;
  const overdue = failing(securityChecks(input()));
  assert.deepEqual(
    overdue.map((c) => [c.name, c.severity]),
    [['proxy-renewal', 'warning']],
  );
  assert.match(
    overdue[0]?.message ?? '',
    /^default\/web-1: certificate expires in [56]m, under 1\/6 of its lifetime: renewal is overdue$/,
  );
  clock = issued + 2 * HOUR;
  const expired = failing(securityChecks(input()));
  assert.equal(expired.length, 1);
  assert.equal(expired[0]?.name, 'proxy-certificates');
  assert.equal(expired[0]?.severity, 'error');
  assert.match(expired[0]?.message ?? '', /^default\/web-1: certificate #1 .* expired at/);

  clock = issued;
  assert.deepEqual(
    failing(securityChecks(input({ serviceAccounts: new Map([['default/web-1', 'admin']]) }))),
    [
      {
        name: 'proxy-identity',
        severity: 'error',
        message:
          'default/web-1 holds spiffe://cluster.local/ns/default/sa/web but is registered as service account ' +
          'admin (spiffe://cluster.local/ns/default/sa/admin)',
      },
    ],
  );
  const noCert = failing(
    securityChecks(input({ proxies: [{ ...proxy(certChainPem), certificate: undefined }] })),
  );
  assert.deepEqual(noCert, [
    { name: 'proxy-certificates', severity: 'error', message: 'default/web-1 holds no certificate' },
  ]);

  // A rotation: the old-root leaf still verifies (both roots trusted), the open rotation warns.
  await ca.rotateRoot();
  assert.deepEqual(failing(securityChecks(input())), [
    {
      name: 'ca-rotation',
      severity: 'warning',
      message: 'root rotation in progress: 1 connected proxy holds a certificate from an older root',
    },
  ]);
  // Finished by force: the old leaf chains to no trusted root.
  await ca.finishRotation();
  const orphan = failing(securityChecks(input()));
  assert.equal(orphan[0]?.name, 'proxy-certificates');
  assert.match(orphan[0]?.message ?? '', /not signed by any trusted root/);
});

test('checks: a CA signer near or past its end; no CA; clocks', async (t) => {
  const now = Date.now();
  const ca = await openTestCa(t);
  const real = ca.info();
  const withSigner = (notAfter: number): CaInfo => ({
    ...real,
    signer: { ...real.signer, notAfter: new Date(now + notAfter) },
  });
  const run = (info: CaInfo) =>
    failing(
      securityChecks({
        now,
        ca: { info, roots: parseCertificates(ca.trustBundlePem()) },
        trustDomain: 'cluster.local',
        proxies: [],
        serviceAccounts: new Map(),
      }),
    );
  assert.deepEqual(
    run(withSigner(10 * 24 * HOUR)).map((c) => [c.name, c.severity]),
    [['ca-signer', 'warning']],
  );
  assert.match(run(withSigner(10 * 24 * HOUR))[0]?.message ?? '', /expires in 10d \(under 30 days\)/);
  assert.deepEqual(
    run(withSigner(-HOUR)).map((c) => [c.name, c.severity]),
    [['ca-signer', 'error']],
  );

  const bare = securityChecks({
    now,
    ca: undefined,
    trustDomain: 'x',
    proxies: [],
    serviceAccounts: new Map(),
  });
  assert.deepEqual(
    failing(bare).map((c) => [c.name, c.severity]),
    [['ca', 'warning']],
  );
  assert.deepEqual(bare.at(-1), {
    name: 'proxies',
    ok: true,
    severity: 'error',
    message: 'no proxies connected',
  });

  assert.equal(skewCheck('c', 'x', 400).ok, true);
  assert.deepEqual(
    [skewCheck('c', 'x', 3000).severity, skewCheck('c', 'x', 3000).ok, skewCheck('c', 'x', -7000).severity],
    ['warning', false, 'error'],
  );
  assert.match(skewCheck('c', "proxy a/b's clock", -7000).message, /^proxy a\/b's clock is 7000ms behind/);
  assert.deepEqual(
    [humanDuration(59_000), humanDuration(15 * HOUR), humanDuration(-90 * 24 * HOUR)],
    ['59s', '15h', '90d'],
  );
  assert.equal(expiry(new Date(now - 3 * 60_000), now), 'expired 3m ago');
});

test('GET /api/v1/check: all well with a real sidecar; a proxy without certificate and a wrong clock fail', async (t) => {
  const cp = await startTestControlPlane(t);
  const reviews = await launch(t, [cp.url], 'reviews', (await startApp(t, 'reviews')).port);
  type Body = { time: string; checks: SecurityCheck[] };
  const get = () => api<Body>(cp.url, 'GET', '/api/v1/check', undefined, { token: cp.readerToken ?? null });
  const healthy = await waitFor('a healthy mesh', async () => {
    const r = await get();
    return r.body.checks.every((c) => c.ok) && r.body.checks.some((c) => c.name === 'proxy-certificates')
      ? r.body
      : undefined;
  });
  assert.ok(Math.abs(Date.parse(healthy.time) - Date.now()) < 60_000);
  assert.equal(
    healthy.checks.find((c) => c.name === 'proxy-identity')?.message,
    "every proxy's SPIFFE ID matches its registration",
  );
  assert.ok(reviews.registration.name.startsWith('reviews'));

  const raw = await StreamClient.connect(t, cp.url);
  await raw.register(registration('skewed-1', { service: 'skewed' }));
  raw.send({ type: 'status', ready: true, time: Date.now() + 10_000 });
  const broken = await waitFor('the raw proxy checked', async () => {
    const r = await get();
    return r.body.checks.some((c) => c.name === 'proxy-clock' && !c.ok) ? r.body.checks : undefined;
  });
  const bad = broken.filter((c) => !c.ok);
  assert.deepEqual(
    bad.map((c) => [c.name, c.severity]),
    [
      ['proxy-certificates', 'error'],
      ['proxy-clock', 'error'],
    ],
  );
  assert.equal(bad[0]?.message, 'default/skewed-1 holds no certificate');
  assert.match(
    bad[1]?.message ?? '',
    /^proxy default\/skewed-1's clock is \d+ms ahead of the control plane's: /,
  );
});
