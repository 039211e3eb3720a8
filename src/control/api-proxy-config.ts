// The config one proxy has in force, what `trellis proxy-config` shows (as `istioctl proxy-config`):
//   GET /api/v1/proxies/ID/config   ID as `trellis proxy-status -o wide` lists it (PROXY-ID)
// In force is the snapshot the proxy last ACKed on its stream (a NACKed one left the previous in
// force); a later one still unanswered is `pending`. Secrets never leave with keys: the config's
// secrets become certificate summaries (SPIFFE ID, issuer, validity, serial), a private key a marker,
// and any PEM private key anywhere in the answer is replaced. What a proxy runs is what this
// replica's push stream saw: with several replicas, each answers for the proxies connected to it.
import { redactSecrets } from '../admin/redact.ts';
import { splitPemCertificates } from '../identity/pem.ts';
import { x509 } from '../identity/x509.ts';
import type { ProxyConfig } from '../model/schema.ts';
import { ApiError } from './errors.ts';
import type { ProxyStatus, PushServer } from './push-server.ts';
import type { ApiRoute } from './api.ts';

export const REDACTED = '[redacted]';

export const ProxyNotFoundError = (id: string): ApiError =>
  new ApiError(
    'TRELLIS_PROXY_NOT_FOUND',
    404,
    `no proxy "${id}" is connected to this control plane (see trellis proxy-status -o wide)`,
  );

export interface CertificateSummary {
  /** The first spiffe:// URI SAN; absent on CA certificates. */
  spiffeId?: string;
  subject: string;
  issuer: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  isCa: boolean;
}

export interface SecretsView {
  /** The workload's chain, leaf first: the config's own, else the one last issued on the stream. */
  certificate: CertificateSummary[];
  certificateSource: 'config' | 'issued' | 'none';
  /** The roots the proxy trusts (the trust bundle of the config in force). */
  trustBundle: CertificateSummary[];
  /** Present when the config holds a private key: only ever the marker. */
  privateKey?: typeof REDACTED;
  /** Certificates that could not be parsed (counted, never shown). */
  unreadable?: number;
}

export interface ProxyConfigView {
  proxy: { id: string; workload: string; namespace: string; connectedAt: string };
  /** The version the proxy runs: the last it ACKed on this stream; null before its first ACK. */
  inForce: string | null;
  /** Sent after it and not answered yet. */
  pending?: string;
  /** The last version the proxy refused (it kept the one in force). */
  rejected?: { version: string; error: string };
  /** The config in force, its secrets apart (`secrets`); null before the first ACK. */
  config: Omit<ProxyConfig, 'secrets'> | null;
  secrets: SecretsView;
}

export const proxyConfigRoutes: ApiRoute[] = [
  [
    'GET',
    /^\/api\/v1\/proxies\/(?<id>[^/]+)\/config$/,
    async (ctx, _r, p) => proxyConfigView(ctx.push, p.id ?? ''),
  ],
];

export function proxyConfigView(push: PushServer, id: string): ProxyConfigView {
  const configs = push.configsOf(id);
  // Two streams of one proxy (a reconnect not yet noticed): the newest, as configsOf picks.
  const status = push
    .status()
    .filter((s) => s.id === id)
    .sort((a, b) => a.connectedAt.localeCompare(b.connectedAt))
    .at(-1);
  if (configs === undefined || status === undefined) throw ProxyNotFoundError(id);
  const inForce = configs.inForce();
  const pending =
    status.sent !== undefined && status.sent !== inForce?.version && status.nacked?.version !== status.sent
      ? status.sent
      : undefined;
  let config: Omit<ProxyConfig, 'secrets'> | null = null;
  let secrets: ProxyConfig['secrets'];
  if (inForce !== undefined) {
    const { secrets: s, ...rest } = redactSecrets(inForce.config);
    config = rest;
    secrets = s;
  }
  const view: ProxyConfigView = {
    proxy: {
      id: status.id,
      workload: status.workload,
      namespace: status.namespace,
      connectedAt: status.connectedAt,
    },
    inForce: inForce?.version ?? null,
    ...(pending !== undefined ? { pending } : {}),
    ...(status.nacked !== undefined ? { rejected: status.nacked } : {}),
    config,
    secrets: secretsView(secrets, status),
  };
  return scrubPrivateKeys(view);
}

function secretsView(secrets: ProxyConfig['secrets'], status: ProxyStatus): SecretsView {
  const own = secrets?.certChain;
  const issued = status.certificate?.chain;
  const chain = summarise(own ?? issued ?? '');
  const roots = summarise(secrets?.trustBundle ?? '');
  const unreadable = chain.unreadable + roots.unreadable;
  return {
    certificate: chain.certs,
    certificateSource: own !== undefined ? 'config' : issued !== undefined ? 'issued' : 'none',
    trustBundle: roots.certs,
    ...(secrets?.privateKey !== undefined ? { privateKey: REDACTED } : {}),
    ...(unreadable > 0 ? { unreadable } : {}),
  };
}

/** Each certificate of a PEM text, summarised; what fails to parse is counted. */
export function summarise(pem: string): { certs: CertificateSummary[]; unreadable: number } {
  const certs: CertificateSummary[] = [];
  let unreadable = 0;
  for (const block of splitPemCertificates(pem)) {
    try {
      certs.push(summariseOne(new x509.X509Certificate(block)));
    } catch {
      unreadable++;
    }
  }
  return { certs, unreadable };
}

function summariseOne(c: x509.X509Certificate): CertificateSummary {
  // Spread: the library's collection subclasses Array, and filter/map would keep its class.
  const uris = [...(c.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [])]
    .filter((n) => n.type === 'url')
    .map((n) => n.value);
  const spiffeId = uris.find((u) => u.startsWith('spiffe://'));
  return {
    ...(spiffeId !== undefined ? { spiffeId } : {}),
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serialNumber.toLowerCase(),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    isCa: c.getExtension(x509.BasicConstraintsExtension)?.ca ?? false,
  };
}

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/**
 * A copy of `value` in which every string holding a PEM private key is the marker. The config's
 * own key is redacted above; this is the net for keys elsewhere (a TLS block given inline).
 */
export function scrubPrivateKeys<T>(value: T): T {
  return scrub(value) as T;
}

function scrub(value: unknown): unknown {
  if (typeof value === 'string') return PRIVATE_KEY_PEM.test(value) ? REDACTED : value;
  if (Array.isArray(value)) return value.map(scrub);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrub(v)]));
  return value;
}
