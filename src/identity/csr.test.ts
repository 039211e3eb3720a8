import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { test } from 'node:test';
import { createCsr, generateWorkloadKey, inspectCsr, parseCsr } from './csr.ts';
import { IdentityError } from './errors.ts';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

test('a workload key and a CSR naming the SPIFFE ID, signed by that key', async () => {
  const { keys, privateKeyPem } = await generateWorkloadKey();
  assert.match(privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  const key = createPrivateKey(privateKeyPem);
  assert.equal(key.asymmetricKeyType, 'ec');
  assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');

  const pem = await createCsr(keys, ID);
  assert.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----\n[\s\S]+-----END CERTIFICATE REQUEST-----\n$/);
  assert.deepEqual(await inspectCsr(pem), { uriSans: [ID], valid: true });

  // The CSR carries the public half of the PEM key the sidecar keeps.
  const { csr } = await parseCsr(pem);
  const fromCsr = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  assert.ok(fromCsr.equals(createPublicKey(key)));

  const second = await generateWorkloadKey();
  assert.notEqual(second.privateKeyPem, privateKeyPem, 'a fresh key every time');
});

test('inspectCsr tells a forged request from a good one, and refuses text that is no request', async () => {
  const { keys } = await generateWorkloadKey();
  const pem = await createCsr(keys, ID);
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  der[der.indexOf(Buffer.from('reviews'))] = 'R'.charCodeAt(0);
  const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  assert.deepEqual(await inspectCsr(forged), {
    uriSans: ['spiffe://cluster.local/ns/default/sa/Reviews'],
    valid: false,
  });
  for (const junk of [
    '',
    'hello',
    '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
  ])
    await assert.rejects(
      inspectCsr(junk),
      (err) => err instanceof IdentityError && err.code === 'TRELLIS_CSR_INVALID',
      JSON.stringify(junk),
    );
});
