// The sidecar's side of issuance: a fresh ECDSA P-256 key and a PKCS#10 request (RFC 2986) naming
// the workload's SPIFFE ID. The private key stays in the process; only the request travels.
//
// The request has one fixed shape, so it is encoded here in a few lines of DER rather than with
// @peculiar/x509, which with its ASN.1 schemas and tsyringe would add ~4 MB to every sidecar
// (bench/README.md, "What a proxy loads"). The control plane parses requests with the library
// (csr.ts), and csr-request.test.ts checks the two agree byte for byte.
import { KeyObject, sign, type webcrypto } from 'node:crypto';
import { toPem } from './pem.ts';

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

/** One DER type-length-value; lengths in short or long form. */
function der(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : undefined;
  if (length === undefined) throw new RangeError('DER value over 64 KB');
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

const SEQUENCE = 0x30;
const SET = 0x31;
const OID_EXTENSION_REQUEST = Buffer.from('06092a864886f70d01090e', 'hex'); // 1.2.840.113549.1.9.14
const OID_SUBJECT_ALT_NAME = Buffer.from('0603551d11', 'hex'); // 2.5.29.17
const OID_ECDSA_WITH_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex'); // 1.2.840.10045.4.3.2
const VERSION_1 = Buffer.from('020100', 'hex'); // INTEGER 0
const EMPTY_NAME = Buffer.from('3000', 'hex'); // the CA decides the subject
const CRITICAL = Buffer.from('0101ff', 'hex'); // BOOLEAN TRUE

/** A PEM CSR for `spiffeId` (its only URI SAN), signed with the workload key. */
export async function createCsr(keys: webcrypto.CryptoKeyPair, spiffeId: string): Promise<string> {
  // An IA5String holds ASCII only; SPIFFE IDs are printable ASCII (spiffe.ts refuses the rest).
  if (!/^[\x21-\x7e]+$/.test(spiffeId))
    throw new RangeError(`not a printable ASCII URI: ${JSON.stringify(spiffeId)}`);
  const spki = Buffer.from(await crypto.subtle.exportKey('spki', keys.publicKey));
  // With an empty subject the SAN extension is critical (RFC 5280 4.2.1.6).
  const uri = der(0x86, Buffer.from(spiffeId, 'ascii')); // [6] IMPLICIT IA5String
  const san = der(SEQUENCE, OID_SUBJECT_ALT_NAME, CRITICAL, der(0x04, der(SEQUENCE, uri)));
  const extensionRequest = der(SEQUENCE, OID_EXTENSION_REQUEST, der(SET, der(SEQUENCE, san)));
  const info = der(SEQUENCE, VERSION_1, EMPTY_NAME, spki, der(0xa0, extensionRequest));
  // node:crypto signs with the same key and gives the DER (r, s) pair X.509 wants.
  const signature = sign('sha256', info, { key: KeyObject.from(keys.privateKey), dsaEncoding: 'der' });
  const csr = der(
    SEQUENCE,
    info,
    der(SEQUENCE, OID_ECDSA_WITH_SHA256),
    der(0x03, Buffer.from([0]), signature), // BIT STRING, no unused bits
  );
  return toPem('CERTIFICATE REQUEST', csr);
}
