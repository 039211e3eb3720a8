// CA certificates: the self-managed root, and (for tests and tools) intermediates under it.
// ECDSA P-256 with SHA-256, like every key Trellis makes.
import { createPrivateKey, randomBytes } from 'node:crypto';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM } from './csr.ts';
import { normalizePem, toPem } from './pem.ts';
import { x509 } from './x509.ts';

export interface CaKeyPair {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

export interface CaCertificateOptions {
  /** e.g. 'O=Trellis, CN=Trellis Root CA cluster.local'. */
  subject: string;
  ttlMs: number;
  /** Signs the new CA; self-signed (a root) without it. */
  issuer?: CaKeyPair;
  /** basicConstraints pathLenConstraint. */
  pathLength?: number;
  /** Default: one minute ago (clock skew). */
  notBefore?: Date;
}

export async function createCaCertificate(o: CaCertificateOptions): Promise<CaKeyPair> {
  const keys = await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify']);
  const notBefore = o.notBefore ?? new Date(Date.now() - 60_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, o.pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  let issuerName: x509.Name | string = o.subject;
  let signingKey = keys.privateKey;
  if (o.issuer !== undefined) {
    const issuerCert = new x509.X509Certificate(o.issuer.certPem);
    issuerName = issuerCert.subjectName;
    signingKey = await createPrivateKey(o.issuer.keyPem).toCryptoKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    const ski = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension);
    if (ski !== null) extensions.push(new x509.AuthorityKeyIdentifierExtension(ski.keyId));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(16).toString('hex'),
    subject: o.subject,
    issuer: issuerName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + o.ttlMs),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions,
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { certPem: normalizePem(cert.toString('pem')), keyPem: toPem('PRIVATE KEY', pkcs8) };
}

/** The self-managed root of a trust domain. */
/** `now`: the CA's clock, which every certificate it signs is dated by (backdated a minute here too). */
export function createRoot(trustDomain: string, ttlMs: number, now: number): Promise<CaKeyPair> {
  return createCaCertificate({
    subject: `O=Trellis, CN=Trellis Root CA ${trustDomain}`,
    ttlMs,
    notBefore: new Date(now - 60_000),
  });
}
