// The hand-encoded request against the library the control plane parses it with, and openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { createCsr, EC_SIGNING_ALGORITHM, generateWorkloadKey } from './csr-request.ts';
import { parseCsr } from './csr.ts';
import { x509 } from './x509.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

const derOf = (pem: string): Buffer => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');

/** The first element inside a DER SEQUENCE: a request's CertificationRequestInfo (what is signed). */
function firstElement(der: Uint8Array): Buffer {
  const bytes = Buffer.from(der);
  const skipLength = (at: number): number => (bytes[at]! & 0x80 ? at + 1 + (bytes[at]! & 0x7f) : at + 1);
  const start = skipLength(1);
  let length = bytes[start + 1]!;
  let at = start + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + bytes[at++]!;
  }
  return bytes.subarray(start, at + length);
}

test('the request is byte for byte what @peculiar/x509 encodes, up to the signature', async () => {
  // Short and long (over 127 bytes) SPIFFE IDs exercise both DER length forms.
  for (const id of [ID, `spiffe://cluster.local/ns/${'n'.repeat(60)}/sa/${'s'.repeat(80)}`]) {
    const { keys } = await generateWorkloadKey();
    const pem = await createCsr(keys, id);
    const ours = await parseCsr(pem);
    const library = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: EC_SIGNING_ALGORITHM,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: id }], true)],
    });
    assert.equal(ours.valid, true, 'signed by the key it carries');
    assert.deepEqual(ours.uriSans, [id]);
    assert.equal(ours.csr.subject, '');
    assert.deepEqual(ours.csr.signatureAlgorithm, library.signatureAlgorithm);
    // ECDSA signatures differ every time; what was signed must not.
    assert.deepEqual(firstElement(derOf(pem)), firstElement(new Uint8Array(library.rawData)));
    assert.equal(ours.csr.getExtension('2.5.29.17')?.critical, true);
  }
});

test('openssl reads and verifies the request', async (t) => {
  let version: string;
  try {
    version = execFileSync('openssl', ['version'], { encoding: 'utf8' });
  } catch {
    t.skip('no openssl on this machine');
    return;
  }
  assert.match(version, /OpenSSL/);
  const { keys } = await generateWorkloadKey();
  const text = execFileSync('openssl', ['req', '-verify', '-noout', '-text'], {
    input: await createCsr(keys, ID),
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  assert.match(text, /URI:spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews/);
  assert.match(text, /X509v3 Subject Alternative Name: critical/);
  assert.match(text, /ecdsa-with-SHA256/);
});

test('an ID that is not printable ASCII is refused, not mangled into the request', async () => {
  const { keys } = await generateWorkloadKey();
  for (const id of ['spiffe://cluster.local/ns/default/sa/revięws', 'spiffe://x/sa/a b', ''])
    await assert.rejects(createCsr(keys, id), RangeError, JSON.stringify(id));
});
