// The sections of `trellis proxy-config`: each turns the config a proxy has in force into table rows
// (base columns, more with -o wide) and into the raw model objects -o json|yaml prints. Pure: the
// command fetches, these render.
import { humanDuration } from '../control/api-identity-checks.ts';
import type { CertificateSummary, ProxyConfigView } from '../control/api-proxy-config.ts';
import type { Cluster, Endpoint, Listener, Route, RouteMatch, VirtualHost } from '../model/schema.ts';

export const SECTIONS = ['listeners', 'routes', 'clusters', 'endpoints', 'secrets'] as const;
export type Section = (typeof SECTIONS)[number];

/** `listener` or `listeners` (as istioctl takes both). */
export function parseSection(arg: string): Section | undefined {
  const plural = arg.toLowerCase().endsWith('s') ? arg.toLowerCase() : `${arg.toLowerCase()}s`;
  return SECTIONS.find((s) => s === plural);
}

export interface SectionTable {
  headers: string[];
  rows: string[][];
}

type Config = NonNullable<ProxyConfigView['config']>;
/** One column: its header, its cell for a row, and whether only -o wide shows it. */
type Column<T> = [header: string, cell: (row: T) => string, wide?: 'wide'];

function render<T>(columns: Column<T>[], items: T[], wide: boolean): SectionTable {
  const shown = columns.filter(([, , w]) => wide || w === undefined);
  return { headers: shown.map(([h]) => h), rows: items.map((it) => shown.map(([, cell]) => cell(it))) };
}

/** The raw model objects of a section, what -o json|yaml prints. */
export function sectionItems(view: ProxyConfigView, section: Section): unknown {
  const c = view.config;
  switch (section) {
    case 'listeners':
      return c?.listeners ?? [];
    case 'routes':
      return c?.routeTables ?? [];
    case 'clusters':
      return c?.clusters ?? [];
    case 'endpoints':
      return endpointRows(c).map(({ cluster, endpoint }) => ({ cluster, ...endpoint }));
    case 'secrets':
      return view.secrets;
  }
}

export function sectionTable(
  view: ProxyConfigView,
  section: Section,
  wide: boolean,
  now = Date.now(),
): SectionTable {
  const c = view.config;
  switch (section) {
    case 'listeners':
      return render(listenerColumns, c?.listeners ?? [], wide);
    case 'routes':
      return render(routeColumns, routeRows(c), wide);
    case 'clusters':
      return render(clusterColumns, c?.clusters ?? [], wide);
    case 'endpoints':
      return render(endpointColumns, endpointRows(c), wide);
    case 'secrets':
      return render(secretColumns(now), secretRows(view), wide);
  }
}

// --- listeners ---

const hostPort = (address: string, port: number): string =>
  `${address.includes(':') ? `[${address}]` : address}:${port}`;

const listenerColumns: Column<Listener>[] = [
  ['NAME', (l) => l.name],
  ['ADDRESS:PORT', (l) => hostPort(l.address, l.port)],
  ['PROTOCOL', (l) => l.protocol],
  ['MTLS', (l) => l.mtls?.mode ?? (l.tls !== undefined ? 'TLS' : '-')],
  ['ROUTES', (l) => l.routeTable ?? '-'],
  ['DIRECTION', (l) => l.direction, 'wide'],
  ['TCP-CLUSTER', (l) => l.tcpCluster ?? '-', 'wide'],
  ['IDLE-TIMEOUT', (l) => duration(l.idleTimeout), 'wide'],
];

// --- routes ---

interface RouteRow {
  at: string;
  vhost: VirtualHost;
  route: Route;
  index: number;
}

function routeRows(c: Config | null): RouteRow[] {
  if (c === null) return [];
  const rows: RouteRow[] = [];
  for (const table of c.routeTables) {
    const users = c.listeners.filter((l) => l.routeTable === table.name).map((l) => l.name);
    const at = users.length > 0 ? users.join(',') : table.name;
    for (const vhost of table.virtualHosts)
      for (const [index, route] of vhost.routes.entries()) rows.push({ at, vhost, route, index });
  }
  return rows;
}

/** The first few of a list, then how many more: a table cell stays one readable line. */
function few(items: string[], max: number): string {
  if (items.length === 0) return '-';
  return items.length <= max ? items.join(',') : `${items.slice(0, max).join(',')} +${items.length - max}`;
}

function matchText(m: RouteMatch): string {
  const parts: string[] = [];
  const p = m.path;
  if (p?.exact !== undefined) parts.push(p.exact);
  else if (p?.prefix !== undefined) parts.push(`${p.prefix}*`);
  else if (p?.regex !== undefined) parts.push(`~${p.regex}`);
  if (m.methods !== undefined) parts.push(m.methods.join(','));
  for (const h of m.headers) parts.push(`${h.invert ? '!' : ''}${h.name}${headerValue(h)}`);
  for (const q of m.query) parts.push(`?${q.name}${headerValue(q)}`);
  return parts.length > 0 ? parts.join(' ') : '*';
}

function headerValue(h: { exact?: string; prefix?: string; regex?: string; present?: boolean }): string {
  if (h.exact !== undefined) return `=${h.exact}`;
  if (h.prefix !== undefined) return `=${h.prefix}*`;
  if (h.regex !== undefined) return `~${h.regex}`;
  return h.present === false ? ' absent' : '';
}

function backendsText(r: Route): string {
  if (r.backends.length === 0) return r.redirect !== undefined ? `redirect ${r.redirect.status}` : '-';
  if (r.backends.length === 1) return r.backends[0]!.cluster;
  const total = r.backends.reduce((sum, b) => sum + b.weight, 0);
  return r.backends
    .map((b) => `${b.cluster} ${total === 0 ? 0 : Math.round((b.weight / total) * 1000) / 10}%`)
    .join(', ');
}

/** What else the route does, by name (the details are in -o yaml). */
function policies(r: Route): string {
  const names: string[] = (
    ['hedge', 'fault', 'mirrors', 'rewrite', 'redirect', 'cors', 'rateLimit'] as const
  ).filter((k) => r[k] !== undefined);
  if (r.requestHeaders !== undefined || r.responseHeaders !== undefined) names.push('headers');
  return names.length > 0 ? names.join(',') : '-';
}

const routeColumns: Column<RouteRow>[] = [
  ['LISTENER/VHOST', (r) => `${r.at}/${r.vhost.name}`],
  ['DOMAINS', (r) => few(r.vhost.domains, 2)],
  ['MATCH', (r) => (r.route.match === undefined ? '*' : [r.route.match].flat().map(matchText).join(' | '))],
  ['BACKENDS', (r) => backendsText(r.route)],
  ['TIMEOUT', (r) => (r.route.timeout === undefined ? '-' : duration(r.route.timeout))],
  [
    'RETRIES',
    (r) => {
      const p = r.route.retries;
      if (p === undefined || p.attempts === 0) return '-';
      return p.perTryTimeout === undefined
        ? String(p.attempts)
        : `${p.attempts} (${duration(p.perTryTimeout)} each)`;
    },
  ],
  ['ROUTE', (r) => r.route.name ?? `#${r.index}`, 'wide'],
  ['RETRY-ON', (r) => r.route.retries?.retryOn.join(',') || '-', 'wide'],
  ['POLICIES', (r) => policies(r.route), 'wide'],
];

// --- clusters ---

const clusterColumns: Column<Cluster>[] = [
  ['NAME', (c) => c.name],
  ['PROTOCOL', (c) => c.protocol],
  [
    'LB',
    (c) => {
      const h = c.lb.hash;
      const key =
        h === undefined
          ? ''
          : h.header
            ? `(header ${h.header})`
            : h.cookie
              ? `(cookie ${h.cookie})`
              : '(source ip)';
      return `${c.lb.policy}${key}`;
    },
  ],
  ['ENDPOINTS', (c) => `${c.endpoints.filter((e) => e.healthy).length}/${c.endpoints.length}`],
  [
    'MTLS',
    (c) =>
      c.mtls === undefined ? '-' : c.mtls.identities.length > 0 ? c.mtls.identities.join(',') : 'any (mesh)',
  ],
  ['BREAKER', (c) => breaker(c), 'wide'],
  ['OUTLIER', (c) => outlier(c), 'wide'],
  ['SERVICE', (c) => (c.service === undefined ? '-' : `${c.service.name}.${c.service.namespace}`), 'wide'],
];

function breaker(c: Cluster): string {
  const l = c.limits;
  if (l === undefined) return '-';
  const parts = [
    l.maxConnections !== undefined ? `conn=${l.maxConnections}` : '',
    l.maxPendingRequests !== undefined ? `pending=${l.maxPendingRequests}` : '',
    l.maxConcurrentRequests !== undefined ? `requests=${l.maxConcurrentRequests}` : '',
    l.maxConcurrentRetries !== undefined ? `retries=${l.maxConcurrentRetries}` : '',
    l.maxRequestsPerConnection !== undefined ? `per-conn=${l.maxRequestsPerConnection}` : '',
  ].filter((p) => p !== '');
  return parts.length > 0 ? parts.join(',') : '-';
}

function outlier(c: Cluster): string {
  const o = c.outlierDetection;
  if (o === undefined) return '-';
  const triggers = [
    o.consecutive5xx > 0 ? `5xx×${o.consecutive5xx}` : '',
    o.consecutiveGatewayErrors > 0 ? `gateway×${o.consecutiveGatewayErrors}` : '',
    o.successRate !== undefined ? 'success-rate' : '',
    o.failurePercentage !== undefined ? `failure>${o.failurePercentage.threshold}%` : '',
  ].filter((p) => p !== '');
  return `${triggers.join(',') || 'none'} eject ${duration(o.baseEjectionTime)} max ${o.maxEjectionPercent}%`;
}

// --- endpoints ---

interface EndpointRow {
  cluster: string;
  endpoint: Endpoint;
}

function endpointRows(c: Config | null): EndpointRow[] {
  return (c?.clusters ?? []).flatMap((cl) =>
    cl.endpoints.map((endpoint) => ({ cluster: cl.name, endpoint })),
  );
}

const endpointColumns: Column<EndpointRow>[] = [
  ['CLUSTER', (r) => r.cluster],
  ['ADDRESS:PORT', (r) => hostPort(r.endpoint.address, r.endpoint.port)],
  ['HEALTHY', (r) => String(r.endpoint.healthy)],
  ['WEIGHT', (r) => String(r.endpoint.weight)],
  ['LOCALITY', (r) => r.endpoint.locality ?? '-'],
  [
    'LABELS',
    (r) =>
      Object.entries(r.endpoint.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
    'wide',
  ],
];

// --- secrets ---

interface SecretRow {
  type: 'CERTIFICATE' | 'INTERMEDIATE' | 'ROOT';
  cert: CertificateSummary;
}

function secretRows(view: ProxyConfigView): SecretRow[] {
  const s = view.secrets;
  return [
    ...s.certificate.map((cert, i): SecretRow => ({ type: i === 0 ? 'CERTIFICATE' : 'INTERMEDIATE', cert })),
    ...s.trustBundle.map((cert): SecretRow => ({ type: 'ROOT', cert })),
  ];
}

const secretColumns = (now: number): Column<SecretRow>[] => [
  ['TYPE', (r) => r.type],
  ['SPIFFE-ID', (r) => r.cert.spiffeId ?? (r.type === 'CERTIFICATE' ? '-' : r.cert.subject)],
  ['ISSUER', (r) => r.cert.issuer],
  ['NOT-AFTER', (r) => shortTime(r.cert.notAfter)],
  [
    'REMAINING',
    (r) => {
      const left = Date.parse(r.cert.notAfter) - now;
      return left > 0 ? humanDuration(left) : `expired ${humanDuration(left)} ago`;
    },
  ],
  ['SERIAL', (r) => r.cert.serial, 'wide'],
  ['NOT-BEFORE', (r) => shortTime(r.cert.notBefore), 'wide'],
];

/** ISO time without milliseconds. */
const shortTime = (iso: string): string => iso.replace(/\.\d+Z$/, 'Z');

/** Milliseconds as an operator writes them: 250ms, 15s, 2m; 0 is "off". */
export function duration(ms: number): string {
  if (ms === 0) return 'off';
  if (ms < 1000) return `${ms}ms`;
  if (ms < 120_000 || ms % 60_000 !== 0) return `${Math.round(ms / 100) / 10}s`;
  return ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${ms / 60_000}m`;
}
