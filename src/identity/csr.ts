// The control plane's side of issuance: parsing and checking a workload's PKCS#10 request. The
// sidecar's side (key and request) is csr-request.ts, re-exported here for the CA's callers.
import { CsrInvalidError } from './errors.ts';
import { x509 } from './x509.ts';

export {
  createCsr,
  EC_KEY_ALGORITHM,
  EC_SIGNING_ALGORITHM,
  generateWorkloadKey,
  type WorkloadKey,
} from './csr-request.ts';

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
