// PEM text in and out, and the chain checks the CA and the renewer share. Parsing and signature
// checks use Node's X509Certificate (OpenSSL); generation lives in ca.ts and csr.ts.
import { X509Certificate } from 'node:crypto';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block in `text`, each ending in a newline; other blocks are skipped. */
export function splitPemCertificates(text: string): string[] {
  return (text.match(CERT_BLOCK) ?? []).map((b) => `${b}\n`);
}

/** One PEM block, 64 columns, ending in a newline. */
export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** PEM text with a single trailing newline, so blocks concatenate cleanly. */
export function normalizePem(pem: string): string {
  return `${pem.trim()}\n`;
}

/** `child` names `parent` as issuer, `parent` may sign certificates, and its key signed `child`. */
export function issuedBy(child: X509Certificate, parent: X509Certificate): boolean {
  return parent.ca && child.checkIssued(parent) && child.verify(parent.publicKey);
}

export function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

/**
 * Checks that certs[0] ← certs[1] ← … chains to one of `roots` (the last cert may be a root itself)
 * and that every cert is valid at `at`. Returns what is wrong, or undefined.
 */
export function chainProblem(
  certs: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  at: Date,
): string | undefined {
  if (certs.length === 0) return 'no certificate';
  for (const [i, c] of certs.entries()) {
    if (c.validFromDate > at)
      return `certificate #${i + 1} (${oneLine(c.subject)}) is not valid before ${c.validFrom}`;
    if (c.validToDate < at) return `certificate #${i + 1} (${oneLine(c.subject)}) expired at ${c.validTo}`;
    const next = certs[i + 1];
    if (next !== undefined && !issuedBy(c, next))
      return `certificate #${i + 1} (${oneLine(c.subject)}) is not signed by the CA that follows it (${oneLine(next.subject)})`;
  }
  const last = certs[certs.length - 1] as X509Certificate;
  if (roots.some((r) => r.fingerprint256 === last.fingerprint256)) return undefined;
  const current = (r: X509Certificate): boolean => r.validFromDate <= at && at <= r.validToDate;
  if (roots.some((r) => issuedBy(last, r) && current(r))) return undefined;
  return `${oneLine(last.subject)} is not signed by any trusted root valid now`;
}

/** Node prints subjects one attribute per line. */
export function oneLine(subject: string): string {
  return subject.split('\n').join(', ');
}
