// SPIFFE IDs as Trellis (and Istio) shape them: spiffe://<trust domain>/ns/<namespace>/sa/<service
// account>. A workload's identity is its service account, carried as the only URI SAN of its
// certificate. Syntax follows the SPIFFE ID spec (trust domain [a-z0-9._-], path segments
// [A-Za-z0-9._-], no '.' or '..' segments).
import type { X509Certificate } from 'node:crypto';
import { SpiffeIdInvalidError, TrustDomainInvalidError } from './errors.ts';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

const SCHEME = 'spiffe://';
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** The SPIFFE spec's bound on the whole URI. */
const MAX_ID_BYTES = 2048;

export interface SpiffeIdParts {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

export function isValidTrustDomain(td: string): boolean {
  // Dots may not lead, trail or repeat: the trust domain is a DNS-ish name.
  return TRUST_DOMAIN.test(td) && !td.startsWith('.') && !td.endsWith('.') && !td.includes('..');
}

/** Returns `td` or throws TRELLIS_TRUST_DOMAIN_INVALID. */
export function validateTrustDomain(td: string): string {
  if (!isValidTrustDomain(td)) throw TrustDomainInvalidError(td);
  return td;
}

function isValidSegment(s: string): boolean {
  return SEGMENT.test(s) && s !== '.' && s !== '..';
}

/** Any well-formed SPIFFE ID (not only the ns/sa shape): its trust domain and path ('' or '/a/b'). */
export function parseSpiffeUri(s: string): { trustDomain: string; path: string } | undefined {
  if (!s.startsWith(SCHEME) || Buffer.byteLength(s) > MAX_ID_BYTES) return undefined;
  const rest = s.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  if (!isValidTrustDomain(trustDomain)) return undefined;
  if (path !== '' && !path.slice(1).split('/').every(isValidSegment)) return undefined;
  return { trustDomain, path };
}

/** spiffe://td/ns/NS/sa/SA; throws TRELLIS_SPIFFE_ID_INVALID / TRELLIS_TRUST_DOMAIN_INVALID. */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  validateTrustDomain(trustDomain);
  const id = `${SCHEME}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  if (!isValidSegment(namespace)) throw SpiffeIdInvalidError(id, `namespace ${JSON.stringify(namespace)}`);
  if (!isValidSegment(serviceAccount))
    throw SpiffeIdInvalidError(id, `service account ${JSON.stringify(serviceAccount)}`);
  if (Buffer.byteLength(id) > MAX_ID_BYTES)
    throw SpiffeIdInvalidError(id, `longer than ${MAX_ID_BYTES} bytes`);
  return id;
}

/** The parts of a spiffe://td/ns/NS/sa/SA ID; undefined for anything else. */
export function parseSpiffeId(s: string): SpiffeIdParts | undefined {
  const uri = parseSpiffeUri(s);
  if (uri === undefined) return undefined;
  const seg = uri.path.split('/');
  // ['', 'ns', NS, 'sa', SA]
  if (seg.length !== 5 || seg[1] !== 'ns' || seg[3] !== 'sa') return undefined;
  const [, , namespace, , serviceAccount] = seg;
  if (namespace === undefined || serviceAccount === undefined) return undefined;
  return { trustDomain: uri.trustDomain, namespace, serviceAccount };
}

/** Istio's principal form of an identity (AuthorizationPolicy `principals`): the ID without its scheme. */
export function istioPrincipal(spiffe: string): string {
  if (parseSpiffeUri(spiffe) === undefined) throw SpiffeIdInvalidError(spiffe, 'not a SPIFFE ID');
  return spiffe.slice(SCHEME.length);
}

/**
 * Parses Node's `X509Certificate.subjectAltName` text: `TYPE:value` entries joined by ', '. Node
 * prints a value holding ',', quotes, backslashes or control characters as a JSON string literal
 * (`URI:"a\u002cb"`), so an unquoted value never holds ',' and the split is unambiguous.
 */
export function parseSubjectAltName(text: string): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon === -1) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = closingQuote(text, colon + 2);
      if (end === -1) break;
      end += 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        break;
      }
    } else {
      end = text.indexOf(', ', colon + 1);
      if (end === -1) end = text.length;
      value = text.slice(colon + 1, end);
    }
    out.push({ type, value });
    if (!text.startsWith(', ', end)) break;
    i = end + 2;
  }
  return out;
}

function closingQuote(text: string, from: number): number {
  for (let j = from; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j;
  }
  return -1;
}

/** Every URI SAN of the certificate, in certificate order. */
export function uriSans(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san === undefined) return [];
  return parseSubjectAltName(san)
    .filter((n) => n.type === 'URI')
    .map((n) => n.value);
}

/** The peer's SPIFFE ID: the first spiffe:// URI SAN of its certificate. */
export function peerSpiffeId(cert: X509Certificate | undefined): string | undefined {
  if (cert === undefined) return undefined;
  return uriSans(cert).find((u) => u.startsWith(SCHEME));
}
