// The user's own CA from files (Istio's plug-in CA): intermediates, RSA, and refusals.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CA_STORE_KEY, CertificateAuthority } from './ca.ts';
import { createCsr, generateWorkloadKey } from './csr.ts';
import { toPem } from './pem.ts';
import { createCaCertificate } from './root.ts';
import {
  certs,
  issueWorkload,
  mtlsExchange,
  openTestCa,
  rejectsWith,
  tempDir,
  tempStore,
} from './testing.ts';
import { x509 } from './x509.ts';

const A = 'spiffe://cluster.local/ns/default/sa/reviews';
const B = 'spiffe://cluster.local/ns/shop/sa/ratings';
const HOUR = 3_600_000;

async function writeIntermediateCa(dir: string, o: { interTtlMs?: number; interNotBefore?: Date } = {}) {
  const root = await createCaCertificate({ subject: 'O=Acme, CN=Acme Root', ttlMs: 10 * 24 * HOUR });
  const inter = await createCaCertificate({
    subject: 'O=Acme, CN=Acme Mesh Intermediate',
    ttlMs: o.interTtlMs ?? 24 * HOUR,
    issuer: root,
    pathLength: 0,
    ...(o.interNotBefore !== undefined ? { notBefore: o.interNotBefore } : {}),
  });
  const files = {
    cert: join(dir, 'ca-cert.pem'),
    key: join(dir, 'ca-key.pem'),
    root: join(dir, 'root-cert.pem'),
    chain: join(dir, 'cert-chain.pem'),
  };
  writeFileSync(files.cert, inter.certPem);
  writeFileSync(files.key, inter.keyPem);
  writeFileSync(files.root, root.certPem);
  writeFileSync(files.chain, inter.certPem + root.certPem);
  return { root, inter, files };
}

test('a user-supplied intermediate CA signs leaves that verify up to the user root over mTLS', async (t) => {
  const dir = tempDir(t);
  const { root, inter, files } = await writeIntermediateCa(dir, { interTtlMs: 2 * HOUR });
  const store = await tempStore(t);
  const layouts = [
    { caCertFile: files.cert, caKeyFile: files.key, caRootFile: files.root },
    // Istio's cert-chain.pem: the intermediate then the root; the root is found at its end.
    { caCertFile: files.chain, caKeyFile: files.key },
  ];
  for (const files of layouts) {
    const ca = await CertificateAuthority.openOrCreate(store, { trustDomain: 'cluster.local', ...files });
    assert.equal(ca.selfManaged, false);
    assert.equal(ca.trustBundlePem(), root.certPem);
    assert.equal(ca.info().signer.subject, 'O=Acme, CN=Acme Mesh Intermediate');

    const server = await issueWorkload(ca, A);
    const chain = certs(server.certChainPem);
    assert.equal(chain.length, 2, 'leaf + intermediate, no root');
    assert.equal(chain[1]?.fingerprint256, new X509Certificate(inter.certPem).fingerprint256);
    const client = await issueWorkload(ca, B);
    const bundle = ca.trustBundlePem();
    const r = await mtlsExchange(server, client, { server: bundle, client: bundle });
    assert.deepEqual(r, { ok: true, serverSawClient: B, clientSawServer: A, error: undefined });

    // A leaf never outlives the certificate that signed it.
    const { keys } = await generateWorkloadKey();
    const long = await ca.sign(await createCsr(keys, A), { spiffeId: A, ttlMs: 24 * HOUR });
    assert.equal(long.notAfter.getTime(), new X509Certificate(inter.certPem).validToDate.getTime());
  }
  assert.equal(await store.get(CA_STORE_KEY), undefined, 'a CA from files is not written to the store');
  const ca = await CertificateAuthority.openOrCreate(store, { trustDomain: 'cluster.local', ...layouts[0] });
  await assert.rejects(ca.rotateRoot(), rejectsWith('TRELLIS_CA_EXTERNAL'));
});

test('an RSA root given as the CA file signs workloads (Istio sample CAs are RSA)', async (t) => {
  const dir = tempDir(t);
  const alg = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
  };
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'O=Acme, CN=Acme RSA Root',
    keys,
    signingAlgorithm: alg,
    notAfter: new Date(Date.now() + 24 * HOUR),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const certFile = join(dir, 'ca-cert.pem');
  const keyFile = join(dir, 'ca-key.pem');
  writeFileSync(certFile, root.toString('pem'));
  writeFileSync(keyFile, toPem('PRIVATE KEY', await crypto.subtle.exportKey('pkcs8', keys.privateKey)));
  const ca = await openTestCa(t, { caCertFile: certFile, caKeyFile: keyFile });
  const server = await issueWorkload(ca, A);
  assert.equal(certs(server.certChainPem).length, 1, 'the signer is the root: not sent');
  const client = await issueWorkload(ca, B);
  const bundle = ca.trustBundlePem();
  const r = await mtlsExchange(server, client, { server: bundle, client: bundle });
  assert.deepEqual(r, { ok: true, serverSawClient: B, clientSawServer: A, error: undefined });
});

test('unusable CA files are refused at start with TRELLIS_CA_INVALID naming the file', async (t) => {
  const dir = tempDir(t);
  const store = await tempStore(t);
  const good = await writeIntermediateCa(dir);
  const open = (o: { caCertFile?: string; caKeyFile?: string; caRootFile?: string }) =>
    CertificateAuthority.openOrCreate(store, { trustDomain: 'cluster.local', ...o });
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const escape = (p: string): string => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  // The key of another CA.
  const other = await createCaCertificate({ subject: 'CN=other', ttlMs: HOUR });
  const wrongKey = file('wrong-key.pem', other.keyPem);
  await assert.rejects(
    open({ caCertFile: good.files.cert, caKeyFile: wrongKey, caRootFile: good.files.root }),
    rejectsWith('TRELLIS_CA_INVALID', new RegExp(`${escape(wrongKey)}: does not match`)),
  );
  // A leaf is no CA.
  const store2 = await tempStore(t);
  const leafCa = await openTestCa(t, {}, store2);
  const leaf = await issueWorkload(leafCa, A);
  const leafCert = file('leaf.pem', leaf.certChainPem);
  await assert.rejects(
    open({
      caCertFile: leafCert,
      caKeyFile: file('leaf-key.pem', leaf.privateKeyPem),
      caRootFile: good.files.root,
    }),
    rejectsWith('TRELLIS_CA_INVALID', new RegExp(`${escape(leafCert)}: .*not a CA`)),
  );
  // An intermediate under another root than the root file's.
  const otherRoot = file('other-root.pem', other.certPem);
  await assert.rejects(
    open({ caCertFile: good.files.cert, caKeyFile: good.files.key, caRootFile: otherRoot }),
    rejectsWith('TRELLIS_CA_INVALID', /not signed by any trusted root/),
  );
  // No root file and the chain does not end in a root.
  await assert.rejects(
    open({ caCertFile: good.files.cert, caKeyFile: good.files.key }),
    rejectsWith('TRELLIS_CA_INVALID', /not self-signed/),
  );
  // An expired intermediate.
  const expired = await writeIntermediateCa(tempDir(t), {
    interNotBefore: new Date(Date.now() - 2 * HOUR),
    interTtlMs: HOUR,
  });
  await assert.rejects(
    open({ caCertFile: expired.files.cert, caKeyFile: expired.files.key, caRootFile: expired.files.root }),
    rejectsWith('TRELLIS_CA_INVALID', /expired/),
  );
  await assert.rejects(
    open({ caCertFile: join(dir, 'missing.pem'), caKeyFile: good.files.key }),
    rejectsWith('TRELLIS_CA_INVALID', /missing\.pem: cannot be read/),
  );
  await assert.rejects(open({ caCertFile: good.files.cert }), rejectsWith('TRELLIS_CA_INVALID', /key file/));
  await assert.rejects(
    open({ caCertFile: file('junk.pem', 'hello'), caKeyFile: good.files.key }),
    rejectsWith('TRELLIS_CA_INVALID', /no PEM CERTIFICATE/),
  );
});
