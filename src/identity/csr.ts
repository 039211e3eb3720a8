// The sidecar's side of issuance: a fresh ECDSA P-256 key and a PKCS#10 request naming the
// workload's SPIFFE ID. The private key stays in the process; only the request travels.
import type { webcrypto } from 'node:crypto';
import { CsrInvalidError } from './errors.ts';
import { toPem } from './pem.ts';
import { x509 } from './x509.ts';

export const EC_KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
export const EC_SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface WorkloadKey {
  keys: webcrypto.CryptoKeyPair;
  /** PKCS#8 PEM, what node:tls takes as `key`. */
  privateKeyPem: string;
}

export async function generateWorkloadKey(): Promise<WorkloadKey> {
  // Extractable so node:tls can be given the PEM; it never leaves the process.
  const keys = await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ['sign', 'verify']);
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, privateKeyPem: toPem('PRIVATE KEY', pkcs8) };
}

/** A PEM CSR for `spiffeId` (its only URI SAN), signed with the workload key. */
export async function createCsr(keys: webcrypto.CryptoKeyPair, spiffeId: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    // The subject stays empty: the CA decides it. With an empty subject the SAN is critical (RFC 5280).
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true)],
  });
  return toPem('CERTIFICATE REQUEST', csr.rawData);
}

export interface ParsedCsr {
  csr: x509.Pkcs10CertificateRequest;
  uriSans: string[];
  /** The request is signed by the key it carries. */
  valid: boolean;
}

/** Parses and checks a PEM CSR; throws TRELLIS_CSR_INVALID when it is not one. */
export async function parseCsr(pem: string): Promise<ParsedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  let uris: string[];
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE REQUEST-----')) throw new Error('no CERTIFICATE REQUEST block');
    csr = new x509.Pkcs10CertificateRequest(pem);
    // Spread: the library's collection subclasses Array, and map/flatMap would keep its class.
    uris = [...csr.getExtensions(SAN_OID)]
      .flatMap((e) => new x509.SubjectAlternativeNameExtension(e.rawData).names.items)
      .filter((n) => n.type === 'url')
      .map((n) => n.value);
  } catch (err) {
    throw CsrInvalidError(`not a PEM PKCS#10 request (${(err as Error).message})`, err);
  }
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch {
    // A key or algorithm WebCrypto cannot use: as good as a bad signature.
    valid = false;
  }
  return { csr, uriSans: uris, valid };
}

const SAN_OID = '2.5.29.17';

export async function inspectCsr(pem: string): Promise<{ uriSans: string[]; valid: boolean }> {
  const { uriSans, valid } = await parseCsr(pem);
  return { uriSans, valid };
}
