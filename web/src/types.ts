// The API's shapes. Golden and ResourceRef come from the server's own module (types only: nothing
// of the server is bundled); the response shapes are mirrored here until they move to a module
// without Node imports.
import type { Golden, ResourceRef } from '../../src/control/stats/query.ts';
export type { Golden, ResourceRef };

export interface StatItem extends ResourceRef {
  meshed: { connected: number; total: number } | null;
  stats: Golden | null;
}
export interface EdgeItem {
  src: ResourceRef;
  dst: ResourceRef;
  side: 'server' | 'client';
  secured: boolean;
  clientIds: string[];
  serverIds: string[];
  stats: Golden;
}

/** GET /api/v1/events, event `mesh`. */
export interface MeshEvent {
  revision: number;
  timestamp: string;
  window: string;
  proxies: number;
  services: StatItem[];
  deployments: StatItem[];
  edges: EdgeItem[];
}

export type Role = 'admin' | 'reader';

// --- Tap, config and security views ---

/** Tap lines: the server's own schemas' types (src/tap/event.ts imports zod only). */
export type { TapEventLine, TapFilter, TapHeaders, TapLine } from '../../src/tap/event.ts';
export type { TapBody as TapCapturedBody } from '../../src/tap/event.ts';

/** POST /api/v1/tap's body, as sent (src/control/tap/api-tap.ts TapBody). */
export interface TapRequestBody {
  target: { kind: 'service' | 'workload'; namespace: string; name: string };
  filter?: {
    method?: string;
    pathPrefix?: string;
    authority?: string;
    /** Outbound: the destination service, `name` or `name.namespace`. */
    to?: string;
  };
  maxRps?: number;
  headers?: boolean;
  bodyBytes?: number;
  duration?: string | number;
}

/** Kinds /api/v1/resources/KIND serves: src/resources/kinds.ts allKinds() (native, then src/dialects). */
export const RESOURCE_KINDS = [
  'Service',
  'Workload',
  'TrafficRoute',
  'TrafficPolicy',
  'VirtualService',
  'DestinationRule',
  'ServiceEntry',
  'Sidecar',
  'PeerAuthentication',
  'AuthorizationPolicy',
  'RequestAuthentication',
  'Telemetry',
  'TrafficSplit',
  'TrafficTarget',
  'HTTPRouteGroup',
  'TCPRoute',
  'HTTPRoute',
  'GRPCRoute',
  'ServiceProfile',
] as const;

/** A stored resource, as GET /api/v1/resources/KIND lists it. */
export interface ResourceObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}
export interface ResourceList {
  kind: string;
  items: ResourceObject[];
}

/** GET /api/v1/warnings (src/control/api-warnings.ts; ResourceWarning of src/resources/validate.ts). */
export interface ResourceWarning {
  /** resourceKey(): `resources/KIND/NS/NAME`. */
  resource: string;
  path: string;
  message: string;
  code?: string;
}
export interface WarningsResponse {
  revision: number;
  items: ResourceWarning[];
}

/** GET /api/v1/history items, oldest first (src/control/history.ts HistoryEntry, changes summarised). */
export interface HistorySummary {
  revision: number;
  lastRevision: number;
  time: string;
  author: string;
  action: 'apply' | 'delete' | 'rollback';
  source: string;
  changes: { key: string; change: 'created' | 'deleted' | 'configured' }[];
}
/** POST /api/v1/rollback answers {entry}: null when the config was already as at that revision. */
export interface RollbackResponse {
  entry: {
    revision: number;
    source: string;
    changes: { key: string; before: unknown; after: unknown }[];
  } | null;
}
/** GET /api/v1/diff?from&to → {diffs} (src/control/history.ts ResourceDiff: a unified diff of YAML). */
export interface ResourceDiff {
  key: string;
  patch: string;
}

/** GET /api/v1/ca (src/control/api-identity.ts CaView). */
export interface CaView {
  trustDomain: string;
  managed: 'self' | 'files';
  signer: { subject: string; notAfter: string };
  roots: { subject: string; notBefore: string; notAfter: string; fingerprint: string; current: boolean }[];
  rotation: {
    inProgress: boolean;
    startedAt?: string;
    pending: { namespace: string; workload: string; serial: string; issuedAt: string }[];
  };
}

/** GET /api/v1/proxies items (src/control/push-session.ts ProxyStatus). */
export interface ProxyStatus {
  id: string;
  workload: string;
  namespace: string;
  connectedAt: string;
  sent?: string;
  acked?: string;
  nacked?: { version: string; error: string };
  certificate?: { spiffeId: string; serial: string; issuedAt: string; notAfter: string; chain: string };
  clockSkewMs?: number;
}

/** GET /api/v1/check (src/control/api-identity-checks.ts SecurityCheck). */
export interface SecurityCheck {
  name: string;
  ok: boolean;
  severity: 'error' | 'warning';
  message: string;
}
export interface CheckResponse {
  time: string;
  checks: SecurityCheck[];
}

/** GET /api/v1/security/edges (src/control/api-security-edges.ts SecurityEdge). */
export interface SecurityEdge {
  src: ResourceRef & { serviceAccounts: string[] };
  dst: ResourceRef;
  observed: boolean;
  secured: boolean | null;
  verdict: 'allow' | 'deny' | 'partial';
  mtls: 'STRICT' | 'PERMISSIVE' | 'DISABLE' | 'MIXED';
  policy?: string;
  /** `Kind/namespace/name` of each resource the deciding policy came from. */
  resources?: string[];
  reason: string;
}
export interface SecurityEdgesResponse {
  trustDomain: string;
  items: SecurityEdge[];
}

// --- Service page and canary view (views/service, views/canary) ---

/** TrafficRoute's match (src/model/schema.ts RouteMatch), as stored. */
export interface RouteMatchView {
  path?: { exact?: string; prefix?: string; regex?: string };
  methods?: string[];
  headers?: {
    name: string;
    exact?: string;
    prefix?: string;
    suffix?: string;
    regex?: string;
    present?: boolean;
    invert?: boolean;
  }[];
  query?: { name: string; exact?: string; prefix?: string; regex?: string; present?: boolean }[];
}
/** One rule of a TrafficRoute (src/resources/kinds.ts ServiceRoute); durations are milliseconds. */
export interface ServiceRouteView {
  name?: string;
  match?: RouteMatchView | RouteMatchView[];
  backends: { service: string; weight: number }[];
  timeout?: number;
  retries?: { attempts: number; perTryTimeout?: number; retryOn?: string[]; retriableStatusCodes?: number[] };
  /** fault, mirrors, rewrite, redirect, cors, rateLimit, headers…: shown as they are. */
  [policy: string]: unknown;
}
/** The internal TrafficRoute (src/resources/kinds.ts TrafficRouteResource). */
export interface TrafficRouteObject extends ResourceObject {
  spec: { service: string; routes: ServiceRouteView[] };
}
/** The internal TrafficPolicy (src/resources/kinds.ts TrafficPolicyResource); fields shown as they are. */
export interface TrafficPolicyObject extends ResourceObject {
  spec: { service: string; [setting: string]: unknown };
}
/** A Workload resource (src/resources/kinds.ts WorkloadResource), the parts the views read. */
export interface WorkloadObject extends ResourceObject {
  metadata: ResourceObject['metadata'] & { labels: Record<string, string> };
  spec: { service: string; serviceAccount: string; address: string; ready: boolean };
}

/** GET /api/v1/services/NS/NAME (src/control/describe.ts ServiceDescription, plus proxies). */
export interface ServiceDescription {
  name: string;
  namespace: string;
  source: 'Service' | 'implied by workloads';
  ports: number[];
  protocol: string;
  virtualIp?: string;
  selector?: Record<string, string>;
  endpoints: {
    workload: string;
    address: string;
    inboundPort: number;
    appPort: number;
    version: string;
    ready: boolean;
    serviceAccount: string;
    /** Callers whose outlier detection has it ejected (src/control/describe.ts EndpointEjection). */
    ejectedBy?: { proxy: string; cluster: string; until: string }[];
  }[];
  route?: TrafficRouteObject;
  ignoredRoutes: string[];
  policy?: TrafficPolicyObject;
  ignoredPolicies: string[];
  /** Security resources (`Kind/namespace/name`) that apply to its workloads: mTLS, JWT, authorization. */
  securityPolicies?: string[];
  /** `TrafficRoute NS/NAME` of routes elsewhere that send traffic to this service. */
  referencedBy: string[];
  proxies?: ProxyStatus[];
}

/** GET /api/v1/stats/services/NS/NAME/routes (src/control/stats/api-stats.ts RoutesResponse). */
export interface RoutesResponse extends ResourceRef {
  window: string;
  timestamp: string;
  items: { route: string; stats: Golden | null }[];
}

/** GET /api/v1/stats/series (src/control/stats/api-series.ts SeriesResponse): a point per bucket. */
export interface SeriesPoint {
  /** Epoch milliseconds of the bucket's start. */
  t: number;
  rps: number;
  successRate: number | null;
  p50: number | null;
  p99: number | null;
}
export interface SeriesResponse {
  kind: string;
  window: string;
  stepMs: number;
  items: (ResourceRef & { points: SeriesPoint[] })[];
}
