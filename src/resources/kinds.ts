// The control plane's resource kinds: what users apply (kubectl-style YAML) and what `trellis run`
// registers. Objects are strict (an unknown field is an error), except for the few fields a real
// Kubernetes object carries that mean nothing here: those are accepted and dropped, so Services
// pasted from `kubectl get -o yaml` apply as they are.
import net from 'node:net';
import { z } from 'zod';
import { Cluster, Duration, Route, WeightedBackend } from '../model/schema.ts';
import { MirrorPolicy } from '../model/policy.ts';
import type { DialectResource } from '../dialects/types.ts';

export const KINDS = ['Service', 'Workload', 'TrafficRoute', 'TrafficPolicy'] as const;
export type Kind = (typeof KINDS)[number];

export const API_VERSIONS: Readonly<Record<Kind, string>> = {
  Service: 'v1',
  Workload: 'trellis.io/v1alpha1',
  TrafficRoute: 'trellis.io/v1alpha1',
  TrafficPolicy: 'trellis.io/v1alpha1',
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DnsLabel = z
  .string()
  .max(63)
  .regex(DNS_LABEL, 'must be a DNS-1123 label: lowercase letters, digits and "-", starting and ending alnum');

/** A service as a reference names it: `name`, `name.namespace`, or with `.svc[.cluster.local]`. */
export const ServiceRef = z
  .string()
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.svc(\.cluster\.local)?)?)?$/,
    'name a service as "name", "name.namespace" or "name.namespace.svc.cluster.local"',
  );

const Port = z.number().int().min(1).max(65535);

/** Drops the named keys: Kubernetes fields accepted for compatibility and otherwise ignored. */
function without<T extends object, K extends string>(value: T, keys: readonly K[]): Omit<T, K> {
  const drop: readonly string[] = keys;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !drop.includes(k))) as Omit<T, K>;
}
function ignoredFields<K extends string>(keys: readonly K[]): Record<K, z.ZodOptional<z.ZodUnknown>> {
  return Object.fromEntries(keys.map((k) => [k, z.unknown().optional()])) as Record<
    K,
    z.ZodOptional<z.ZodUnknown>
  >;
}

// Server-populated metadata of a real Kubernetes object.
const K8S_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  'ownerReferences',
  'finalizers',
  'generateName',
] as const;

export const Metadata = z
  .strictObject({
    name: DnsLabel,
    namespace: DnsLabel.default('default'),
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).optional(),
    ...ignoredFields(K8S_METADATA),
  })
  .transform((m) => without(m, K8S_METADATA));
export type Metadata = z.infer<typeof Metadata>;

// --- Service (Kubernetes v1, the part a mesh needs) ---

export const AppProtocol = z.enum(['http', 'http2', 'kubernetes.io/h2c', 'grpc', 'tcp']);
export type AppProtocol = z.infer<typeof AppProtocol>;

export const ServicePort = z
  .strictObject({
    name: z.string().min(1).optional(),
    port: Port,
    targetPort: z.union([Port, z.string().min(1)]).optional(),
    protocol: z.literal('TCP').optional(),
    appProtocol: AppProtocol.optional(),
    nodePort: z.unknown().optional(),
  })
  .transform((p) => without(p, ['nodePort']));
export type ServicePort = z.infer<typeof ServicePort>;

// Spec fields of a Kubernetes Service about cluster IPs and node ports; the mesh routes by name.
// (clusterIP is kept: it becomes the service's virtual IP, src/control/vip.)
const K8S_SERVICE_SPEC = [
  'type',
  'clusterIPs',
  'ipFamilies',
  'ipFamilyPolicy',
  'sessionAffinity',
  'sessionAffinityConfig',
  'internalTrafficPolicy',
  'externalTrafficPolicy',
  'externalIPs',
  'loadBalancerIP',
  'loadBalancerSourceRanges',
  'loadBalancerClass',
  'allocateLoadBalancerNodePorts',
  'healthCheckNodePort',
  'publishNotReadyAddresses',
  'trafficDistribution',
] as const;

export const ServiceSpec = z
  .strictObject({
    /** Selects workloads of the Service's namespace whose labels include these; none: selects none. */
    selector: z.record(z.string(), z.string()).optional(),
    ports: z.array(ServicePort),
    /** The service's virtual IP (transparent interception); `None`: headless, none; absent: allocated. */
    clusterIP: z
      .string()
      .refine((a) => a === '' || a === 'None' || net.isIP(a) !== 0, 'must be an IP address, "None" or ""')
      .optional(),
    ...ignoredFields(K8S_SERVICE_SPEC),
  })
  .transform((s) => without(s, K8S_SERVICE_SPEC));

/**
 * Label on a Service that lowering synthesized for a subset (`reviews--v2`), naming the service it
 * is a subset of: metrics report the real service, not the synthetic one.
 */
export const SUBSET_OF_LABEL = 'trellis.io/subset-of';

export const ServiceResource = z
  .strictObject({
    apiVersion: z.literal('v1'),
    kind: z.literal('Service'),
    metadata: Metadata,
    spec: ServiceSpec,
    status: z.unknown().optional(),
  })
  .transform((r) => without(r, ['status']));
export type ServiceResource = z.infer<typeof ServiceResource>;

// --- Workload (registered by `trellis run`, or applied by hand for static endpoints) ---

export const WorkloadProtocol = z.enum(['http', 'http2', 'grpc', 'tcp']);
export type WorkloadProtocol = z.infer<typeof WorkloadProtocol>;

export const WorkloadSpec = z
  .strictObject({
    service: DnsLabel,
    serviceAccount: DnsLabel,
    address: z.string().refine((a) => net.isIP(a) !== 0, 'must be an IP address'),
    ports: z.strictObject({
      /** The sidecar's inbound listener: what peers dial. */
      inbound: Port,
      /** The sidecar's outbound listener on 127.0.0.1 (absent: no outbound listener). */
      outbound: Port.optional(),
      admin: Port.optional(),
      /** Where the app listens on 127.0.0.1. */
      app: Port,
      /** The port callers name (`reviews:9080`); defaults to `app`. */
      service: Port.optional(),
    }),
    protocol: WorkloadProtocol,
    locality: z
      .strictObject({ region: z.string().min(1).optional(), zone: z.string().min(1).optional() })
      .optional(),
    ready: z.boolean().default(true),
  })
  .superRefine((s, ctx) => {
    // The sidecar binds inbound, outbound and admin, and the app binds app: one socket each.
    const seen = new Map<number, string>();
    for (const which of ['inbound', 'outbound', 'admin', 'app'] as const) {
      const port = s.ports[which];
      if (port === undefined) continue;
      const other = seen.get(port);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['ports', which],
          message: `port ${port} is already the ${other} port`,
        });
      seen.set(port, which);
    }
  });

/** The `version` label of a hand-written Workload that gives none (Istio's canonical-revision default). */
export const DEFAULT_VERSION_LABEL = 'latest';
export type WorkloadLabels = Record<string, string> & { app: string; version: string };

export const WorkloadResource = z
  .strictObject({
    apiVersion: z.literal('trellis.io/v1alpha1'),
    kind: z.literal('Workload'),
    metadata: Metadata,
    spec: WorkloadSpec,
  })
  // Selectors rely on `app` and `version`: fill them in when a hand-written Workload leaves them out.
  .transform((r) => {
    const labels: WorkloadLabels = {
      app: r.spec.service,
      version: DEFAULT_VERSION_LABEL,
      ...r.metadata.labels,
    };
    return { ...r, metadata: { ...r.metadata, labels } };
  });
export type WorkloadResource = z.infer<typeof WorkloadResource>;

// --- TrafficRoute: the internal Route, with backends naming Services ---

export const ServiceBackend = z.strictObject({ service: ServiceRef, weight: WeightedBackend.shape.weight });
export type ServiceBackend = z.infer<typeof ServiceBackend>;

export const ServiceMirror = z.strictObject({ service: ServiceRef, percent: MirrorPolicy.shape.percent });

/** Every route policy of the internal model, as is, except that backends and mirrors name services. */
export const ServiceRoute = z
  .strictObject({
    name: Route.shape.name,
    match: Route.shape.match,
    backends: z.array(ServiceBackend).default([]),
    timeout: Route.shape.timeout,
    retries: Route.shape.retries,
    hedge: Route.shape.hedge,
    fault: Route.shape.fault,
    mirrors: z.array(ServiceMirror).optional(),
    requestHeaders: Route.shape.requestHeaders,
    responseHeaders: Route.shape.responseHeaders,
    rewrite: Route.shape.rewrite,
    redirect: Route.shape.redirect,
    cors: Route.shape.cors,
    rateLimit: Route.shape.rateLimit,
  })
  .refine((r) => r.backends.length > 0 || r.redirect !== undefined, {
    message: 'a route needs backends (or a redirect)',
    path: ['backends'],
  });
export type ServiceRoute = z.infer<typeof ServiceRoute>;

export const TrafficRouteResource = z.strictObject({
  apiVersion: z.literal('trellis.io/v1alpha1'),
  kind: z.literal('TrafficRoute'),
  metadata: Metadata,
  spec: z.strictObject({ service: ServiceRef, routes: z.array(ServiceRoute).min(1) }),
});
export type TrafficRouteResource = z.infer<typeof TrafficRouteResource>;

// --- TrafficPolicy: the internal Cluster's settings for one service ---

export const TrafficPolicySpec = z
  .strictObject({
    service: ServiceRef,
    lb: Cluster.shape.lb.unwrap().optional(),
    connectTimeout: Duration.optional(),
    pool: Cluster.shape.pool.unwrap().optional(),
    tls: Cluster.shape.tls,
    /**
     * false: originate no mesh mTLS to this service (Istio DestinationRule `tls.mode: DISABLE`).
     * Absent or true: mesh mTLS as the mesh does it (`ISTIO_MUTUAL`); `tls` replaces it either way.
     */
    meshTls: z.boolean().optional(),
    limits: Cluster.shape.limits,
    outlierDetection: Cluster.shape.outlierDetection,
    panicThreshold: Cluster.shape.panicThreshold.unwrap().optional(),
    healthCheck: Cluster.shape.healthCheck,
    adaptiveConcurrency: Cluster.shape.adaptiveConcurrency,
  })
  .superRefine((s, ctx) => {
    const p = s.lb?.policy;
    if ((p === 'ring_hash' || p === 'maglev') && !s.lb?.hash)
      ctx.addIssue({ code: 'custom', path: ['lb', 'hash'], message: `lb policy ${p} needs a hash key` });
  });

export const TrafficPolicyResource = z.strictObject({
  apiVersion: z.literal('trellis.io/v1alpha1'),
  kind: z.literal('TrafficPolicy'),
  metadata: Metadata,
  spec: TrafficPolicySpec,
});
export type TrafficPolicyResource = z.infer<typeof TrafficPolicyResource>;

export type Resource = ServiceResource | WorkloadResource | TrafficRouteResource | TrafficPolicyResource;

export const RESOURCE_SCHEMAS = {
  Service: ServiceResource,
  Workload: WorkloadResource,
  TrafficRoute: TrafficRouteResource,
  TrafficPolicy: TrafficPolicyResource,
} as const satisfies Record<Kind, z.ZodType<Resource>>;

export function resourceKey(r: { kind: string; metadata: { name: string; namespace: string } }): string {
  return `resources/${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

const ALIASES: ReadonlyMap<string, Kind> = new Map(
  (
    [
      ['Service', ['service', 'services', 'svc']],
      ['Workload', ['workload', 'workloads', 'wl']],
      ['TrafficRoute', ['trafficroute', 'trafficroutes', 'tr']],
      ['TrafficPolicy', ['trafficpolicy', 'trafficpolicies', 'tp']],
    ] as const
  ).flatMap(([kind, names]) => names.map((n): [string, Kind] => [n, kind])),
);

/** The kind a CLI alias names (`svc`, `Services`, `tr`, `vs`, ...), case-insensitively. */
export function resolveKind(alias: string): AnyKind | undefined {
  return ALIASES.get(alias.toLowerCase()) ?? EXTRA_ALIASES.get(alias.toLowerCase());
}

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (KINDS as readonly string[]).includes(value);
}

// --- Kinds of other meshes (Istio, SMI, Gateway API, Linkerd): src/dialects registers them ---
// They are stored as written (under resources/<Kind>/<ns>/<name>, like native kinds) and lowered
// into native kinds when the control plane compiles; see docs/dialects.md.

export type { DialectResource };
export type AnyResource = Resource | DialectResource;
export type AnyKind = Kind | DialectResource['kind'];

export interface ExtraKind {
  kind: DialectResource['kind'];
  /** The schema of each apiVersion the kind is served as. parse.ts warns of unknown fields and drops them. */
  versions: ReadonlyMap<string, z.ZodType<DialectResource>>;
  /** CLI names besides the lowercase kind (plural, short). */
  aliases: readonly string[];
}

const EXTRA_KINDS = new Map<string, ExtraKind>();
const EXTRA_ALIASES = new Map<string, DialectResource['kind']>();

/** Adds a kind, or more apiVersions of one already known (SMI and Gateway API both have a TCPRoute). */
export function registerKind(k: ExtraKind): void {
  const known = EXTRA_KINDS.get(k.kind);
  const aliases = [...new Set([...(known?.aliases ?? []), ...k.aliases])];
  EXTRA_KINDS.set(k.kind, {
    kind: k.kind,
    versions: new Map([...(known?.versions ?? []), ...k.versions]),
    aliases,
  });
  for (const a of [k.kind.toLowerCase(), ...aliases]) EXTRA_ALIASES.set(a, k.kind);
}

export function extraKind(kind: unknown): ExtraKind | undefined {
  return typeof kind === 'string' ? EXTRA_KINDS.get(kind) : undefined;
}

/** Native kinds, then every registered one. */
export function allKinds(): AnyKind[] {
  return [...KINDS, ...[...EXTRA_KINDS.values()].map((k) => k.kind)];
}
