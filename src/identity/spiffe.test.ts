import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM } from './csr.ts';
import { IdentityError } from './errors.ts';
import {
  DEFAULT_TRUST_DOMAIN,
  isValidTrustDomain,
  istioPrincipal,
  parseSpiffeId,
  parseSubjectAltName,
  peerSpiffeId,
  spiffeId,
  uriSans,
} from './spiffe.ts';
import { x509 } from './x509.ts';

function code(c: string): (err: unknown) => boolean {
  return (err) => err instanceof IdentityError && err.code === c;
}

test('spiffeId and parseSpiffeId round-trip the ns/sa shape', () => {
  const id = spiffeId(DEFAULT_TRUST_DOMAIN, 'shop', 'cart-v2');
  assert.equal(id, 'spiffe://cluster.local/ns/shop/sa/cart-v2');
  assert.deepEqual(parseSpiffeId(id), {
    trustDomain: 'cluster.local',
    namespace: 'shop',
    serviceAccount: 'cart-v2',
  });
  assert.equal(istioPrincipal(id), 'cluster.local/ns/shop/sa/cart-v2');

  for (const bad of [
    'spiffe://cluster.local/ns/shop/sa',
    'spiffe://cluster.local/ns/shop/sa/cart/extra',
    'spiffe://cluster.local/sa/cart/ns/shop',
    'spiffe://Cluster.local/ns/shop/sa/cart',
    'spiffe://cluster.local/ns/../sa/cart',
    'spiffe://cluster.local/ns//sa/cart',
    'spiffe://cluster.local/ns/shop/sa/cart/',
    'spiffe:///ns/shop/sa/cart',
    'SPIFFE://cluster.local/ns/shop/sa/cart',
    'https://cluster.local/ns/shop/sa/cart',
    'spiffe://cluster.local/ns/shop/sa/cart?x=1',
    `spiffe://cluster.local/ns/shop/sa/${'a'.repeat(2100)}`,
  ])
    assert.equal(parseSpiffeId(bad), undefined, bad);
});

test('invalid parts are refused with a stable code', () => {
  assert.throws(() => spiffeId('Cluster.Local', 'a', 'b'), code('TRELLIS_TRUST_DOMAIN_INVALID'));
  assert.throws(() => spiffeId('cluster.local', 'a/b', 'c'), code('TRELLIS_SPIFFE_ID_INVALID'));
  assert.throws(() => spiffeId('cluster.local', 'a', '..'), code('TRELLIS_SPIFFE_ID_INVALID'));
  assert.throws(() => spiffeId('cluster.local', '', 'c'), code('TRELLIS_SPIFFE_ID_INVALID'));
  assert.throws(() => istioPrincipal('cluster.local/ns/a/sa/b'), code('TRELLIS_SPIFFE_ID_INVALID'));
  for (const td of ['example.org', 'prod-1.mesh', 'a_b', 'td'])
    assert.equal(isValidTrustDomain(td), true, td);
  for (const td of ['', '.a', 'a.', 'a..b', 'A.b', 'a:1', 'a/b', 'x'.repeat(256)])
    assert.equal(isValidTrustDomain(td), false, td);
});

async function certWithSans(
  names: { type: 'url' | 'dns' | 'ip'; value: string }[],
): Promise<X509Certificate> {
  const keys = await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=test',
    keys,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return new X509Certificate(cert.toString('pem'));
}

test('uriSans reads URI SANs out of a real certificate, even values Node has to quote', async () => {
  const cert = await certWithSans([
    { type: 'dns', value: 'reviews.default.svc' },
    { type: 'url', value: 'https://example.com/a,b' },
    { type: 'url', value: 'spiffe://cluster.local/ns/default/sa/reviews' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'url', value: 'urn:x:"quoted", back\\slash, ü' },
  ]);
  // Node prints values with ',' or quotes as JSON string literals so the list splits unambiguously.
  assert.match(cert.subjectAltName ?? '', /URI:"https:\/\/example\.com\/a\\u002cb"/);
  assert.deepEqual(uriSans(cert), [
    'https://example.com/a,b',
    'spiffe://cluster.local/ns/default/sa/reviews',
    'urn:x:"quoted", back\\slash, ü',
  ]);
  assert.equal(peerSpiffeId(cert), 'spiffe://cluster.local/ns/default/sa/reviews');

  const none = await certWithSans([]);
  assert.deepEqual(uriSans(none), []);
  assert.equal(peerSpiffeId(none), undefined);
  assert.equal(peerSpiffeId(await certWithSans([{ type: 'dns', value: 'x' }])), undefined);
  assert.equal(peerSpiffeId(undefined), undefined);
});

test('parseSubjectAltName stops cleanly on text it does not understand', () => {
  assert.deepEqual(parseSubjectAltName('DNS:a, URI:"x\\u002cy", IP Address:::1'), [
    { type: 'DNS', value: 'a' },
    { type: 'URI', value: 'x,y' },
    { type: 'IP Address', value: '::1' },
  ]);
  assert.deepEqual(parseSubjectAltName(''), []);
  assert.deepEqual(parseSubjectAltName('URI:"unterminated'), []);
  assert.deepEqual(parseSubjectAltName('URI:a, garbage'), [{ type: 'URI', value: 'a' }]);
});
