import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { CA_STORE_KEY, CertificateAuthority } from './ca.ts';
import { createCsr, generateWorkloadKey } from './csr.ts';
import { chainProblem } from './pem.ts';
import { uriSans } from './spiffe.ts';
import { certs, issueWorkload, mtlsExchange, openTestCa, rejectsWith, tempStore } from './testing.ts';

const A = 'spiffe://cluster.local/ns/default/sa/reviews';
const B = 'spiffe://cluster.local/ns/shop/sa/ratings';
const HOUR = 3_600_000;

test('a self-managed root is created once, stored, and shared by every replica', async (t) => {
  const store = await tempStore(t);
  // Two replicas starting together: one creation wins, both sign under the same root.
  const [ca1, ca2] = await Promise.all([
    CertificateAuthority.openOrCreate(store, { trustDomain: 'cluster.local' }),
    CertificateAuthority.openOrCreate(store, { trustDomain: 'cluster.local' }),
  ]);
  assert.equal(ca1.trustBundlePem(), ca2.trustBundlePem());
  const stored = await store.get(CA_STORE_KEY);
  assert.ok(stored !== undefined);
  const ca3 = await CertificateAuthority.openOrCreate(store, { trustDomain: 'cluster.local' });
  assert.equal(ca3.trustBundlePem(), ca1.trustBundlePem());

  const [root] = certs(ca1.trustBundlePem());
  assert.ok(root !== undefined);
  assert.ok(root.ca);
  assert.equal(root.subject, 'O=Trellis\nCN=Trellis Root CA cluster.local');
  const years = (root.validToDate.getTime() - Date.now()) / (365 * 24 * HOUR);
  assert.ok(years > 9.9 && years < 10.1, `root lives ${years} years`);
  const info = ca1.info();
  assert.equal(info.managed, 'self');
  assert.equal(info.roots.length, 1);
  assert.equal(info.roots[0]?.fingerprint, root.fingerprint256);
  assert.equal(info.signer.subject, 'O=Trellis, CN=Trellis Root CA cluster.local');
});

test('sign issues a SPIFFE leaf for the identity the control plane names', async (t) => {
  const ca = await openTestCa(t);
  const { keys } = await generateWorkloadKey();
  const before = Date.now();
  const signed = await ca.sign(await createCsr(keys, A), { spiffeId: A, ttlMs: HOUR });
  const chain = certs(signed.certChainPem);
  assert.equal(chain.length, 1, 'the root is never sent to workloads');
  const leaf = chain[0] as X509Certificate;
  assert.equal(leaf.ca, false);
  assert.deepEqual(uriSans(leaf), [A]);
  assert.equal(leaf.subjectAltName, `URI:${A}`);
  assert.equal(leaf.subject, 'O=cluster.local');
  assert.deepEqual(leaf.keyUsage?.slice().sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(signed.serial, leaf.serialNumber.toLowerCase());
  assert.match(signed.serial, /^[0-9a-f]{30,34}$/);
  // Backdated a minute for clock skew; the TTL counts from now (certificate times are whole seconds).
  assert.ok(Math.abs(signed.notBefore.getTime() - (before - 60_000)) < 5000);
  assert.ok(Math.abs(signed.notAfter.getTime() - (before + HOUR)) < 5000);
  assert.ok(leaf.verify(certs(ca.trustBundlePem())[0]!.publicKey));

  const other = await ca.sign(await createCsr(keys, A), { spiffeId: A, ttlMs: HOUR });
  assert.notEqual(other.serial, signed.serial);

  const short = await ca.sign(await createCsr(keys, A), { spiffeId: A, ttlMs: 1000 });
  const lifeAfterNow = short.notAfter.getTime() - Date.now();
  assert.ok(lifeAfterNow > 50_000 && lifeAfterNow <= 60_000, 'TTLs under a minute are raised to one');
});

test('a CA with a clock of its own dates its root by it: a fresh leaf chains at its own notBefore', async (t) => {
  // The root was dated by the host's clock and leaves by the CA's: with the CA's clock behind (as a
  // test's mocked clock, or any injected one), a leaf's notBefore fell before its root's and the
  // workload refused the certificate as "not signed by any trusted root valid now".
  const now = Date.now() - 10_000;
  const ca = await openTestCa(t, { now: () => now });
  const root = certs(ca.trustBundlePem())[0]!;
  const { certChainPem } = await issueWorkload(ca, A);
  const leaf = certs(certChainPem)[0]!;
  assert.ok(
    root.validFromDate <= leaf.validFromDate,
    `root from ${root.validFrom}, leaf from ${leaf.validFrom}`,
  );
  assert.equal(chainProblem(certs(certChainPem), [root], leaf.validFromDate), undefined);
  assert.equal(root.validFromDate.getTime(), Math.floor((now - 60_000) / 1000) * 1000);
});

test('sign refuses a CSR for another identity, a forged CSR, and identities outside the trust domain', async (t) => {
  const ca = await openTestCa(t);
  const { keys } = await generateWorkloadKey();
  const csrB = await createCsr(keys, B);
  await assert.rejects(
    ca.sign(csrB, { spiffeId: A, ttlMs: HOUR }),
    rejectsWith('TRELLIS_CSR_IDENTITY_MISMATCH', /ratings.*reviews/),
  );
  await assert.rejects(
    ca.sign('not a csr', { spiffeId: A, ttlMs: HOUR }),
    rejectsWith('TRELLIS_CSR_INVALID'),
  );

  // A CSR whose signature does not match its content: flip a byte inside the signed part.
  const csrA = await createCsr(keys, A);
  const der = Buffer.from(csrA.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from('cluster.local'));
  der[at] = 'k'.charCodeAt(0);
  const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const forgedId = A.replace('cluster.local', 'kluster.local');
  await assert.rejects(
    ca.sign(forged, { spiffeId: forgedId, ttlMs: HOUR }),
    rejectsWith('TRELLIS_SPIFFE_ID_INVALID', /cluster\.local only/),
  );
  await assert.rejects(
    ca.sign(forged, { spiffeId: A, ttlMs: HOUR }),
    rejectsWith('TRELLIS_CSR_INVALID', /signature/),
  );
  await assert.rejects(
    ca.sign(csrA, { spiffeId: 'https://example.com', ttlMs: HOUR }),
    rejectsWith('TRELLIS_SPIFFE_ID_INVALID'),
  );
  await assert.rejects(ca.sign(csrA, { spiffeId: A, ttlMs: -1 }), rejectsWith('TRELLIS_CERT_TTL_INVALID'));
});

test('workloads under the self-managed root authenticate each other over real mTLS', async (t) => {
  const ca = await openTestCa(t);
  const server = await issueWorkload(ca, A);
  const client = await issueWorkload(ca, B);
  const bundle = ca.trustBundlePem();
  const r = await mtlsExchange(server, client, { server: bundle, client: bundle });
  assert.deepEqual(r, { ok: true, serverSawClient: B, clientSawServer: A, error: undefined });

  // A workload of another mesh (another root) is refused by the server.
  const stranger = await issueWorkload(await openTestCa(t), B);
  const refused = await mtlsExchange(server, stranger, { server: bundle, client: bundle });
  assert.equal(refused.ok, false);
  assert.equal(refused.serverSawClient, undefined);
});

test('root rotation: old-root and new-root leaves interoperate on the two-root bundle', async (t) => {
  const store = await tempStore(t);
  const ca = await openTestCa(t, {}, store);
  const replica = await openTestCa(t, {}, store);
  const oldLeaf = await issueWorkload(ca, A);
  const oldBundle = ca.trustBundlePem();

  await ca.rotateRoot();
  const bundle = ca.trustBundlePem();
  assert.equal(certs(bundle).length, 2);
  assert.ok(bundle.endsWith(oldBundle), 'the old root stays trusted');
  const newLeaf = await issueWorkload(ca, B);
  assert.equal(certs(newLeaf.certChainPem).length, 1);
  assert.equal(ca.info().roots.length, 2);

  // The two roots share a subject; the leaves' Authority Key Identifier picks the right one.
  for (const [server, client, ids] of [
    [oldLeaf, newLeaf, [B, A]],
    [newLeaf, oldLeaf, [A, B]],
  ] as const) {
    const r = await mtlsExchange(server, client, { server: bundle, client: bundle });
    assert.deepEqual(r, { ok: true, serverSawClient: ids[0], clientSawServer: ids[1], error: undefined });
  }

  // Another replica sees the rotation once it reloads, and signs with the new root.
  assert.equal(replica.trustBundlePem(), oldBundle);
  await replica.reload();
  assert.equal(replica.trustBundlePem(), bundle);
  const fromReplica = await issueWorkload(replica, A);
  const r = await mtlsExchange(fromReplica, newLeaf, { server: bundle, client: bundle });
  assert.equal(r.ok, true);

  // A replica that rotates on a stale view loses the race instead of forking the CA.
  const stale = await openTestCa(t, {}, store);
  await ca.finishRotation();
  await assert.rejects(stale.rotateRoot(), rejectsWith('TRELLIS_CA_CONFLICT'));
  assert.equal(stale.trustBundlePem(), ca.trustBundlePem(), 'the loser reloaded');

  const finalBundle = ca.trustBundlePem();
  assert.equal(certs(finalBundle).length, 1);
  const afterFinish = await mtlsExchange(newLeaf, fromReplica, { server: finalBundle, client: finalBundle });
  assert.equal(afterFinish.ok, true);
  // Old-root leaves are no longer trusted.
  const refused = await mtlsExchange(newLeaf, oldLeaf, { server: finalBundle, client: finalBundle });
  assert.equal(refused.ok, false);
});
