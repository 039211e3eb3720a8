// Traffic policy in the internal model: what a route does around forwarding (retries, hedging,
// faults, mirroring, header and URL changes, redirects, CORS, rate limits) and how a cluster
// protects its endpoints (limits, outlier detection, health checks, adaptive concurrency).
// Field names follow Istio and Envoy where they have one, so dialects lower one-to-one.
import { z } from 'zod';
import { Duration } from './duration-schema.ts';

const Percent = z.number().min(0).max(100);

/** Envoy's retry_on / grpc retry_on conditions, as Istio's `retryOn` names them. */
export const RetryOn = z.enum([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'refused-stream',
  'retriable-4xx',
  'retriable-status-codes',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'unavailable',
  'resource-exhausted',
]);
export type RetryOn = z.infer<typeof RetryOn>;

/** Linkerd's retry budget: retries may add at most `ratio` of live requests, plus a floor. */
export const RetryBudget = z
  .object({
    ratio: z.number().min(0).max(10).default(0.2),
    minRetriesPerSecond: z.number().int().min(0).default(10),
    ttl: Duration.default(10_000),
  })
  .strict();
export type RetryBudget = z.infer<typeof RetryBudget>;

export const RetryPolicy = z
  .object({
    /** Retries after the first try (Istio's `attempts`). */
    attempts: z.number().int().min(0).max(10).default(2),
    perTryTimeout: Duration.optional(),
    retryOn: z.array(RetryOn).default(['connect-failure', 'refused-stream', 'unavailable', 'cancelled']),
    retriableStatusCodes: z.array(z.number().int().min(100).max(599)).default([]),
    backoff: z
      .object({ base: Duration.default(25), max: Duration.default(250) })
      .strict()
      .default({ base: 25, max: 250 }),
    budget: RetryBudget.default({ ratio: 0.2, minRetriesPerSecond: 10, ttl: 10_000 }),
    /** POST and other non-idempotent methods are retried only on connect failure or refused stream unless true. */
    retryNonIdempotent: z.boolean().default(false),
    /** Request bodies up to this size are kept for replay; larger or streamed ones are not retried. */
    maxReplayBytes: z
      .number()
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .default(64 * 1024),
  })
  .strict();
export type RetryPolicy = z.infer<typeof RetryPolicy>;

/** Send a second try to another endpoint if the first has not answered after `delay`; first answer wins. */
export const HedgePolicy = z
  .object({
    /** Fixed delay, or absent: the route's observed p95 latency. */
    delay: Duration.optional(),
    maxHedges: z.number().int().min(1).max(3).default(1),
  })
  .strict();
export type HedgePolicy = z.infer<typeof HedgePolicy>;

export const FaultPolicy = z
  .object({
    delay: z
      .object({ fixed: Duration, percent: Percent.default(100) })
      .strict()
      .optional(),
    abort: z
      .object({
        httpStatus: z.number().int().min(200).max(599).optional(),
        /** gRPC status by name (UNAVAILABLE) or number (14). */
        grpcStatus: z.union([z.string(), z.number().int().min(0).max(16)]).optional(),
        percent: Percent.default(100),
      })
      .strict()
      .refine((a) => (a.httpStatus === undefined) !== (a.grpcStatus === undefined), {
        message: 'give exactly one of httpStatus, grpcStatus',
      })
      .optional(),
  })
  .strict();
export type FaultPolicy = z.infer<typeof FaultPolicy>;

export const MirrorPolicy = z.object({ cluster: z.string().min(1), percent: Percent.default(100) }).strict();
export type MirrorPolicy = z.infer<typeof MirrorPolicy>;

export const HeaderMutation = z
  .object({
    set: z.record(z.string(), z.string()).default({}),
    add: z.record(z.string(), z.string()).default({}),
    remove: z.array(z.string()).default([]),
  })
  .strict();
export type HeaderMutation = z.infer<typeof HeaderMutation>;

export const RewritePolicy = z
  .object({
    /** Replaces the part of the path the route's prefix (or exact) match matched. */
    prefix: z.string().optional(),
    regex: z
      .object({ pattern: z.string().min(1), substitution: z.string() })
      .strict()
      .optional(),
    authority: z.string().optional(),
  })
  .strict();
export type RewritePolicy = z.infer<typeof RewritePolicy>;

export const RedirectPolicy = z
  .object({
    scheme: z.enum(['http', 'https']).optional(),
    host: z.string().optional(),
    port: z.number().int().min(1).max(65535).optional(),
    /** Replaces the whole path. */
    path: z.string().optional(),
    /** Replaces the matched prefix. */
    prefix: z.string().optional(),
    status: z
      .union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)])
      .default(301),
  })
  .strict();
export type RedirectPolicy = z.infer<typeof RedirectPolicy>;

const OriginMatch = z
  .object({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
  .strict();

export const CorsPolicy = z
  .object({
    allowOrigins: z.array(OriginMatch).default([]),
    allowMethods: z.array(z.string()).default([]),
    allowHeaders: z.array(z.string()).default([]),
    exposeHeaders: z.array(z.string()).default([]),
    maxAge: Duration.optional(),
    allowCredentials: z.boolean().default(false),
  })
  .strict();
export type CorsPolicy = z.infer<typeof CorsPolicy>;

/** A local token bucket (Envoy's local_ratelimit), one per key value when keyed. */
export const RateLimitPolicy = z
  .object({
    maxTokens: z.number().int().min(1),
    tokensPerFill: z.number().int().min(1),
    fillInterval: Duration,
    key: z
      .object({
        header: z.string().optional(),
        sourceIp: z.boolean().optional(),
        identity: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type RateLimitPolicy = z.infer<typeof RateLimitPolicy>;

/** Istio's connectionPool, as limits: overflow is answered 503 at once, never queued without bound. */
export const ClusterLimits = z
  .object({
    maxConnections: z.number().int().min(1).optional(),
    maxPendingRequests: z.number().int().min(0).optional(),
    maxRequestsPerConnection: z.number().int().min(1).optional(),
    maxConcurrentRequests: z.number().int().min(1).optional(),
    maxConcurrentRetries: z.number().int().min(0).optional(),
  })
  .strict();
export type ClusterLimits = z.infer<typeof ClusterLimits>;

export const OutlierDetection = z
  .object({
    consecutive5xx: z.number().int().min(0).default(5),
    consecutiveGatewayErrors: z.number().int().min(0).default(0),
    interval: Duration.default(10_000),
    baseEjectionTime: Duration.default(30_000),
    maxEjectionPercent: Percent.default(10),
    successRate: z
      .object({
        minHosts: z.number().int().min(1).default(5),
        requestVolume: z.number().int().min(1).default(100),
        stdevFactor: z.number().min(0).default(1.9),
      })
      .strict()
      .optional(),
    failurePercentage: z
      .object({
        threshold: Percent.default(85),
        minHosts: z.number().int().min(1).default(5),
        requestVolume: z.number().int().min(1).default(50),
      })
      .strict()
      .optional(),
  })
  .strict();
export type OutlierDetection = z.infer<typeof OutlierDetection>;

export const HealthCheck = z
  .object({
    http: z
      .object({ path: z.string().default('/'), expectedStatuses: z.array(z.number().int()).optional() })
      .strict()
      .optional(),
    tcp: z.object({}).strict().optional(),
    interval: Duration.default(5_000),
    timeout: Duration.default(1_000),
    healthyThreshold: z.number().int().min(1).default(1),
    unhealthyThreshold: z.number().int().min(1).default(3),
  })
  .strict()
  .refine((h) => (h.http === undefined) !== (h.tcp === undefined), {
    message: 'give exactly one of http, tcp',
  });
export type HealthCheck = z.infer<typeof HealthCheck>;

/** A concurrency limit that follows measured latency (gradient), shedding load before the upstream collapses. */
export const AdaptiveConcurrency = z
  .object({
    initialLimit: z.number().int().min(1).default(20),
    minLimit: z.number().int().min(1).default(1),
    maxLimit: z.number().int().min(1).default(1000),
    /** How often the limit is recomputed from the latency samples. */
    sampleWindow: Duration.default(1_000),
  })
  .strict();
export type AdaptiveConcurrency = z.infer<typeof AdaptiveConcurrency>;
