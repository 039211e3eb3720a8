// The internal model: what every proxy knows. The control plane compiles every dialect into this
// shape and pushes it; `trellis proxy --config FILE` reads the same shape from YAML or JSON.
// Order follows a request: Listener → RouteTable → Cluster → Endpoints.
import { z } from 'zod';
import { Duration } from './duration-schema.ts';
import {
  AdaptiveConcurrency,
  ClusterLimits,
  CorsPolicy,
  FaultPolicy,
  HeaderMutation,
  HealthCheck,
  HedgePolicy,
  MirrorPolicy,
  OutlierDetection,
  RateLimitPolicy,
  RedirectPolicy,
  RetryPolicy,
  RewritePolicy,
} from './policy.ts';
import { ListenerInterception, MeshDns } from './interception.ts';
import { ClusterMtls, InboundSecurity, ListenerMtls, WorkloadSecrets } from './security.ts';
import { TELEMETRY_DEFAULTS, TelemetryConfig } from './telemetry.ts';

export { Duration };

const Name = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'names use letters, digits and . _ : / -');
const Port = z.number().int().min(0).max(65535);

export const StringMatch = z
  .object({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    regex: z.string().optional(),
  })
  .strict()
  .refine((m) => [m.exact, m.prefix, m.suffix, m.regex].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of exact, prefix, suffix, regex',
  });
export type StringMatch = z.infer<typeof StringMatch>;

export const HeaderMatch = z
  .object({
    name: z.string().min(1),
    exact: z.string().optional(),
    prefix: z.string().optional(),
    suffix: z.string().optional(),
    regex: z.string().optional(),
    /** true: the header must be there (any value); false: it must be absent. */
    present: z.boolean().optional(),
    /** Inverts the whole match, as Envoy's invert_match. */
    invert: z.boolean().default(false),
  })
  .strict();
export type HeaderMatch = z.infer<typeof HeaderMatch>;

export const QueryMatch = z
  .object({
    name: z.string().min(1),
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: z.string().optional(),
    present: z.boolean().optional(),
  })
  .strict();
export type QueryMatch = z.infer<typeof QueryMatch>;

export const RouteMatch = z
  .object({
    path: z
      .object({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
      .strict()
      .optional(),
    methods: z.array(z.string().min(1)).optional(),
    headers: z.array(HeaderMatch).default([]),
    query: z.array(QueryMatch).default([]),
  })
  .strict();
export type RouteMatch = z.infer<typeof RouteMatch>;

export const WeightedBackend = z
  .object({
    cluster: Name,
    weight: z.number().int().min(0).max(1_000_000).default(1),
  })
  .strict();
export type WeightedBackend = z.infer<typeof WeightedBackend>;

export const Route = z
  .object({
    name: Name.optional(),
    /** One match or a list (any of them). No match: matches every request. */
    match: z.union([RouteMatch, z.array(RouteMatch)]).optional(),
    /** Where requests go; may be empty only when the route answers itself (redirect). */
    backends: z.array(WeightedBackend).default([]),
    /** Whole-request timeout, across retries; 0 disables. gRPC's grpc-timeout can only shorten it. */
    timeout: Duration.optional(),
    retries: RetryPolicy.optional(),
    hedge: HedgePolicy.optional(),
    fault: FaultPolicy.optional(),
    mirrors: z.array(MirrorPolicy).optional(),
    requestHeaders: HeaderMutation.optional(),
    responseHeaders: HeaderMutation.optional(),
    rewrite: RewritePolicy.optional(),
    redirect: RedirectPolicy.optional(),
    cors: CorsPolicy.optional(),
    rateLimit: RateLimitPolicy.optional(),
  })
  .strict()
  .refine((r) => r.backends.length > 0 || r.redirect !== undefined, {
    message: 'a route needs backends (or a redirect)',
    path: ['backends'],
  });
export type Route = z.infer<typeof Route>;

export const VirtualHost = z
  .object({
    name: Name,
    /** Exact names, "*.suffix" / "prefix.*" wildcards, or "*". A ":port" suffix is allowed. */
    domains: z.array(z.string().min(1)).min(1),
    routes: z.array(Route).min(1),
  })
  .strict();
export type VirtualHost = z.infer<typeof VirtualHost>;

export const RouteTable = z.object({ name: Name, virtualHosts: z.array(VirtualHost) }).strict();
export type RouteTable = z.infer<typeof RouteTable>;

export const TlsFiles = z
  .object({
    cert: z.string().min(1),
    key: z.string().min(1),
    ca: z.string().optional(),
    /** ALPN protocols to offer, e.g. ["h2", "http/1.1"]. */
    alpn: z.array(z.string()).optional(),
  })
  .strict();
export type TlsFiles = z.infer<typeof TlsFiles>;

export const ListenerProtocol = z.enum(['http1', 'http2', 'http', 'tcp', 'detect']);
export type ListenerProtocol = z.infer<typeof ListenerProtocol>;

export const Listener = z
  .object({
    name: Name,
    /** outbound: app → mesh (routes by authority); inbound: mesh → local app. */
    direction: z.enum(['outbound', 'inbound']),
    address: z.string().default('127.0.0.1'),
    port: Port,
    /**
     * http1: HTTP/1.1 only; http2: h2c prior knowledge only; http: HTTP/1.1 or h2c by preface;
     * tcp: opaque; detect: sniff HTTP/1, HTTP/2, TLS, else TCP.
     */
    protocol: ListenerProtocol.default('detect'),
    /** Route table for HTTP traffic (required unless protocol is tcp). */
    routeTable: Name.optional(),
    /** Cluster for opaque TCP traffic (protocol tcp, or detect when the bytes are not HTTP). */
    tcpCluster: Name.optional(),
    /** Terminates TLS on this listener (h2 and http/1.1 by ALPN). */
    tls: TlsFiles.optional(),
    /** Inbound only: terminate mesh mTLS with the workload certificate (config `secrets`). */
    mtls: ListenerMtls.optional(),
    detectTimeout: Duration.default(200),
    /** Time allowed to receive a complete request head (slowloris guard). */
    headersTimeout: Duration.default(10_000),
    /** Closes a client connection idle this long. */
    idleTimeout: Duration.default(300_000),
    maxHeaderBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(64 * 1024),
    /** Outbound only: connections redirected here by iptables keep their original destination. */
    interception: ListenerInterception.optional(),
  })
  .strict();
export type Listener = z.infer<typeof Listener>;

export const Endpoint = z
  .object({
    address: z.string().min(1),
    port: Port,
    weight: z.number().int().min(1).max(128).default(1),
    healthy: z.boolean().default(true),
    labels: z.record(z.string(), z.string()).default({}),
    locality: z.string().optional(),
  })
  .strict();
export type Endpoint = z.infer<typeof Endpoint>;

export const LbPolicy = z.enum(['ewma', 'round_robin', 'random', 'least_request', 'ring_hash', 'maglev']);
export type LbPolicy = z.infer<typeof LbPolicy>;

export const HashKey = z
  .object({
    header: z.string().optional(),
    cookie: z.string().optional(),
    sourceIp: z.boolean().optional(),
  })
  .strict()
  .refine((h) => [h.header, h.cookie, h.sourceIp].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of header, cookie, sourceIp',
  });
export type HashKey = z.infer<typeof HashKey>;

export const Cluster = z
  .object({
    name: Name,
    /** Protocol spoken to the endpoints. grpc is http2 with gRPC error mapping. */
    protocol: z.enum(['http1', 'http2', 'grpc', 'tcp']).default('http1'),
    lb: z
      .object({
        policy: LbPolicy.default('ewma'),
        hash: HashKey.optional(),
        /** ring_hash: ring size; maglev: table size (prime). */
        tableSize: z.number().int().min(7).max(8_388_593).optional(),
      })
      .strict()
      .default({ policy: 'ewma' }),
    connectTimeout: Duration.default(1000),
    pool: z
      .object({
        /** Keep-alive connections per endpoint kept idle for reuse. */
        maxIdlePerEndpoint: z.number().int().min(0).default(64),
        idleTimeout: Duration.default(60_000),
      })
      .strict()
      .default({ maxIdlePerEndpoint: 64, idleTimeout: 60_000 }),
    tls: z
      .object({
        ca: z.string().optional(),
        cert: z.string().optional(),
        key: z.string().optional(),
        serverName: z.string().optional(),
        alpn: z.array(z.string()).optional(),
        insecureSkipVerify: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /** Endpoints are sidecars: originate mesh mTLS with the workload certificate, check their identity. */
    mtls: ClusterMtls.optional(),
    /** The mesh service behind this cluster (metrics: destination_service, destination_namespace). */
    service: z.strictObject({ name: z.string().min(1), namespace: z.string().min(1) }).optional(),
    endpoints: z.array(Endpoint).default([]),
    limits: ClusterLimits.optional(),
    outlierDetection: OutlierDetection.optional(),
    /** Below this percentage of healthy endpoints, balance across all of them (Envoy's panic mode). */
    panicThreshold: z.number().min(0).max(100).default(50),
    healthCheck: HealthCheck.optional(),
    adaptiveConcurrency: AdaptiveConcurrency.optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const p = c.lb.policy;
    if ((p === 'ring_hash' || p === 'maglev') && !c.lb.hash) {
      ctx.addIssue({ code: 'custom', path: ['lb', 'hash'], message: `lb policy ${p} needs a hash key` });
    }
  });
export type Cluster = z.infer<typeof Cluster>;

export const ProxyConfig = z
  .object({
    /** Version of this config; reported on /config_dump and (later) in ACKs. */
    version: z.string().default('0'),
    node: z
      .object({
        id: z.string().default('proxy'),
        service: z.string().optional(),
        namespace: z.string().default('default'),
        /** The workload's name in metrics (source_/destination_workload), e.g. `reviews-v1`. */
        workload: z.string().min(1).optional(),
        /** The workload's `version` label, for metrics. */
        version: z.string().min(1).optional(),
      })
      .strict()
      .default({ id: 'proxy', namespace: 'default' }),
    admin: z
      .object({ address: z.string().default('127.0.0.1'), port: Port.default(15000) })
      .strict()
      .default({ address: '127.0.0.1', port: 15000 }),
    /** Time in-flight requests get to finish after SIGTERM. */
    drainTimeout: Duration.default(5000),
    listeners: z.array(Listener).default([]),
    routeTables: z.array(RouteTable).default([]),
    clusters: z.array(Cluster).default([]),
    /** The workload certificate, key and trust bundle for mesh mTLS. */
    secrets: WorkloadSecrets.optional(),
    /** Checked on inbound traffic: JWT authentication, then authorization. */
    inboundSecurity: InboundSecurity.default({ jwtRules: [], authorization: [] }),
    /** Metrics, tracing and access logs. */
    telemetry: TelemetryConfig.default(TELEMETRY_DEFAULTS),
    /** Mesh names the app resolves (transparent mode). */
    dns: MeshDns.optional(),
  })
  .strict();
export type ProxyConfig = z.infer<typeof ProxyConfig>;
export type ProxyConfigInput = z.input<typeof ProxyConfig>;
