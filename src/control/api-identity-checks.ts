// The checks of `trellis check` (GET /api/v1/check): the CA's signer and roots, a rotation left
// open, and each connected proxy's certificate (held, valid, chaining to a trusted root, renewed in
// time, for the identity it registered) and clock. Pure: the caller passes the time and the state.
import { X509Certificate } from 'node:crypto';
import type { CaInfo } from '../identity/ca.ts';
import { chainProblem, issuedBy, oneLine, splitPemCertificates } from '../identity/pem.ts';
import { spiffeId } from '../identity/spiffe.ts';
import type { ProxyStatus } from './push-server.ts';

export type Severity = 'error' | 'warning';

export interface SecurityCheck {
  name: string;
  ok: boolean;
  /** How bad it is when not ok. */
  severity: Severity;
  message: string;
}

export interface CheckInput {
  now: number;
  /** Undefined: the control plane runs without a CA. */
  ca: { info: CaInfo; roots: X509Certificate[] } | undefined;
  trustDomain: string;
  proxies: readonly ProxyStatus[];
  /** The service account each registered workload runs as, by `namespace/name`. */
  serviceAccounts: ReadonlyMap<string, string>;
}

export interface PendingProxy {
  namespace: string;
  workload: string;
  serial: string;
  issuedAt: string;
}

const DAY_MS = 86_400_000;
export const SIGNER_WARNING_MS = 30 * DAY_MS;
/** Heartbeats include transit time: a second is noise on a loaded host, five are a wrong clock. */
export const SKEW_WARNING_MS = 1000;
export const SKEW_ERROR_MS = 5000;
/** Sidecars renew at 2/3 of the lifetime: with under 1/6 left, renewing has been failing for a while. */
const RENEWAL_OVERDUE_FRACTION = 1 / 6;

/** "15h", "3d", "42s": the unit that keeps the number readable. */
export function humanDuration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** "expires in 15h" or "expired 3m ago". */
export function expiry(notAfter: Date | string, now: number): string {
  const left = new Date(notAfter).getTime() - now;
  return left > 0 ? `expires in ${humanDuration(left)}` : `expired ${humanDuration(left)} ago`;
}

/** Every certificate of a PEM text, parsed. */
export function parseCertificates(pem: string): X509Certificate[] {
  return splitPemCertificates(pem).map((p) => new X509Certificate(p));
}

/** URI SANs as Node prints them (`URI:a, DNS:b`; a value with a comma or quote is JSON-quoted). */
export function uriSans(c: X509Certificate): string[] {
  const out: string[] = [];
  for (const m of (c.subjectAltName ?? '').matchAll(/(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const v = m[1] ?? '';
    try {
      out.push(v.startsWith('"') ? (JSON.parse(v) as string) : v);
    } catch {
      out.push(v);
    }
  }
  return out;
}

/** The chain ends at `root`, or at a certificate `root` signed. */
export function chainsTo(chain: readonly X509Certificate[], root: X509Certificate): boolean {
  const top = chain.at(-1);
  return top !== undefined && (top.fingerprint256 === root.fingerprint256 || issuedBy(top, root));
}

/**
 * Connected proxies whose certificate does not chain to `currentRoot`. Decided by the chain itself,
 * not by when it was issued: it holds across restarts, whichever replica rotated.
 */
export function pendingProxies(
  proxies: readonly ProxyStatus[],
  currentRoot: X509Certificate,
): PendingProxy[] {
  const out: PendingProxy[] = [];
  for (const p of proxies) {
    if (p.certificate === undefined) continue;
    if (chainsTo(parseCertificates(p.certificate.chain), currentRoot)) continue;
    const { serial, issuedAt } = p.certificate;
    out.push({ namespace: p.namespace, workload: p.workload, serial, issuedAt });
  }
  return out;
}

const pass = (name: string, message: string): SecurityCheck => ({
  name,
  ok: true,
  severity: 'error',
  message,
});
const fail = (name: string, severity: Severity, message: string): SecurityCheck => ({
  name,
  ok: false,
  severity,
  message,
});

/** One passing check, or one failing check per problem. */
function each(name: string, severity: Severity, problems: string[], okMessage: string): SecurityCheck[] {
  return problems.length === 0 ? [pass(name, okMessage)] : problems.map((m) => fail(name, severity, m));
}

/** A clock `skewMs` ahead of ours (negative: behind), for `what` ("proxy default/web-1's clock"). */
export function skewCheck(name: string, what: string, skewMs: number): SecurityCheck {
  const abs = Math.abs(Math.round(skewMs));
  const how = `${what} is ${abs}ms ${skewMs >= 0 ? 'ahead of' : 'behind'} the control plane's`;
  if (abs >= SKEW_ERROR_MS)
    return fail(name, 'error', `${how}: certificates may look not yet valid or expired; sync it (NTP)`);
  if (abs > SKEW_WARNING_MS) return fail(name, 'warning', `${how} (over ${SKEW_WARNING_MS}ms)`);
  return pass(name, how);
}

export function securityChecks(input: CheckInput): SecurityCheck[] {
  return [...caChecks(input), ...proxyChecks(input)];
}

function caChecks({ ca, now, proxies }: CheckInput): SecurityCheck[] {
  if (ca === undefined)
    return [fail('ca', 'warning', 'this control plane runs without a CA: no workload certificates, no mTLS')];
  const out: SecurityCheck[] = [];
  const signer = ca.info.signer;
  const subject = oneLine(signer.subject);
  const left = signer.notAfter.getTime() - now;
  if (left <= 0)
    out.push(
      fail('ca-signer', 'error', `CA signer ${subject} ${expiry(signer.notAfter, now)}: it can sign nothing`),
    );
  else if (left < SIGNER_WARNING_MS)
    out.push(
      fail(
        'ca-signer',
        'warning',
        `CA signer ${subject} ${expiry(signer.notAfter, now)} (under 30 days): replace it`,
      ),
    );
  else out.push(pass('ca-signer', `CA signer ${subject} is valid (${expiry(signer.notAfter, now)})`));
  for (const r of ca.roots) {
    const named = `trust root ${oneLine(r.subject)} (${r.fingerprint256.slice(0, 11)})`;
    if (r.validFromDate.getTime() > now)
      out.push(fail('ca-root', 'error', `${named} is not valid before ${r.validFromDate.toISOString()}`));
    else if (r.validToDate.getTime() <= now)
      out.push(fail('ca-root', 'error', `${named} ${expiry(r.validToDate, now)}`));
    else out.push(pass('ca-root', `${named} is valid (${expiry(r.validToDate, now)})`));
  }
  const current = ca.roots[0];
  if (ca.info.managed === 'self' && ca.roots.length > 1 && current !== undefined) {
    const pending = pendingProxies(proxies, current).length;
    out.push(
      fail(
        'ca-rotation',
        'warning',
        pending > 0
          ? `root rotation in progress: ${pending} connected ${pending === 1 ? 'proxy holds' : 'proxies hold'} a certificate from an older root`
          : 'root rotation in progress and every connected proxy renewed: finish it (trellis ca finish-rotation)',
      ),
    );
  }
  return out;
}

function proxyChecks({ ca, now, proxies, serviceAccounts, trustDomain }: CheckInput): SecurityCheck[] {
  if (proxies.length === 0) return [pass('proxies', 'no proxies connected')];
  const nameOf = (p: ProxyStatus): string => `${p.namespace}/${p.workload}`;
  const out: SecurityCheck[] = [];
  if (ca !== undefined) {
    const certificates: string[] = [];
    const renewal: string[] = [];
    const identity: string[] = [];
    for (const p of proxies) {
      const c = p.certificate;
      const chain = c === undefined ? [] : safeParse(c.chain);
      const leaf = chain[0];
      if (c === undefined || leaf === undefined) {
        certificates.push(`${nameOf(p)} holds no ${c === undefined ? '' : 'readable '}certificate`);
        continue;
      }
      const problem = chainProblem(chain, ca.roots, new Date(now));
      if (problem !== undefined) {
        certificates.push(`${nameOf(p)}: ${problem}`);
        continue;
      }
      const life = leaf.validToDate.getTime() - leaf.validFromDate.getTime();
      if (leaf.validToDate.getTime() - now < life * RENEWAL_OVERDUE_FRACTION)
        renewal.push(
          `${nameOf(p)}: certificate ${expiry(leaf.validToDate, now)}, under 1/6 of its lifetime: renewal is overdue`,
        );
      const sa = serviceAccounts.get(nameOf(p));
      const expected = sa === undefined ? undefined : safeSpiffeId(trustDomain, p.namespace, sa);
      if (sa !== undefined && (c.spiffeId !== expected || !uriSans(leaf).includes(c.spiffeId)))
        identity.push(
          `${nameOf(p)} holds ${uriSans(leaf).join(', ') || 'no SPIFFE ID'} but is registered as service account ${sa}` +
            (expected !== undefined ? ` (${expected})` : ''),
        );
    }
    const n = proxies.length;
    out.push(
      ...each(
        'proxy-certificates',
        'error',
        certificates,
        `${n === 1 ? 'the connected proxy holds' : `all ${n} connected proxies hold`} a valid certificate from a trusted root`,
      ),
      ...each('proxy-renewal', 'warning', renewal, 'no proxy certificate is overdue for renewal'),
      ...each('proxy-identity', 'error', identity, "every proxy's SPIFFE ID matches its registration"),
    );
  }
  const reported = proxies.filter((p) => p.clockSkewMs !== undefined);
  const skews = reported.map((p) =>
    skewCheck('proxy-clock', `proxy ${nameOf(p)}'s clock`, p.clockSkewMs ?? 0),
  );
  const bad = skews.filter((s) => !s.ok);
  if (bad.length > 0) return [...out, ...bad];
  const largest = Math.max(0, ...reported.map((p) => Math.abs(Math.round(p.clockSkewMs ?? 0))));
  out.push(
    pass(
      'proxy-clock',
      reported.length === 0
        ? 'no proxy has reported its clock yet'
        : `proxy clocks are within ${SKEW_WARNING_MS}ms of the control plane's (largest difference ${largest}ms, transit included)`,
    ),
  );
  return out;
}

function safeParse(pem: string): X509Certificate[] {
  try {
    return parseCertificates(pem);
  } catch {
    return [];
  }
}

function safeSpiffeId(trustDomain: string, namespace: string, serviceAccount: string): string | undefined {
  try {
    return spiffeId(trustDomain, namespace, serviceAccount);
  } catch {
    return undefined;
  }
}
