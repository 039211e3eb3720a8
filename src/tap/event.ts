// What a live tap reports (`trellis tap`, Linkerd's `viz tap`): three events per tapped request —
// `req` at its head, `rsp` at the response head, `end` when it is over — sent by the proxy to the
// control plane in batches, and by the control plane to the CLI as NDJSON with the proxy named.
// These schemas are what the control plane checks proxies' batches with and the CLI reads with.
import { z } from 'zod';

/** Requests per second one tap session may report from one proxy (default, and most allowed). */
export const DEFAULT_TAP_RPS = 100;
export const MAX_TAP_RPS = 1000;
/** Most body bytes a tap may capture per request and direction (`--bodies BYTES`). */
export const MAX_TAP_BODY_BYTES = 16 * 1024;

export const TapDirection = z.enum(['inbound', 'outbound']);
export type TapDirection = z.infer<typeof TapDirection>;

/** Which requests a tap reports; every field given must match. */
export const TapFilter = z.strictObject({
  direction: TapDirection.optional(),
  /** Exact (upper case). */
  method: z
    .string()
    .regex(/^[A-Z][A-Z0-9_-]{0,31}$/, 'an HTTP method in upper case')
    .optional(),
  /** The request target (path and query) starts with this. */
  pathPrefix: z.string().startsWith('/').max(2048).optional(),
  /** host[:port], case-insensitive; without a port it matches any port of that host. */
  authority: z.string().min(1).max(260).optional(),
  /** Outbound: the destination service, `name.namespace` (matched when the request meets a cluster). */
  to: z.string().min(3).max(320).optional(),
});
export type TapFilter = z.infer<typeof TapFilter>;

/** One end of a request. Fields the proxy did not learn are left out. */
export const TapParty = z.strictObject({
  address: z.string().max(64).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  /** SPIFFE ID: proven by mTLS (inbound source), this proxy's own, or the cluster's expected one. */
  identity: z.string().max(2048).optional(),
  /** `app-version`, as metrics name workloads. */
  workload: z.string().max(253).optional(),
  namespace: z.string().max(63).optional(),
  /** Outbound destination: the service, `name.namespace`. */
  service: z.string().max(320).optional(),
});
export type TapParty = z.infer<typeof TapParty>;

/** Header fields as [name, value] pairs (credentials redacted, long values clipped). */
export const TapHeaders = z.array(z.tuple([z.string().max(256), z.string().max(4096)])).max(200);
export type TapHeaders = z.infer<typeof TapHeaders>;

/** The first bytes of a body, base64; `truncated` when the body went on past them. */
export const TapBody = z.strictObject({
  base64: z.string().max(Math.ceil(MAX_TAP_BODY_BYTES / 3) * 4),
  truncated: z.boolean(),
});
export type TapBody = z.infer<typeof TapBody>;

export const TapRequestEvent = z.strictObject({
  type: z.literal('req'),
  /** Per proxy; the control plane prefixes the proxy's number. */
  id: z.number().int().nonnegative(),
  /** When the request head was complete, ms since the epoch. */
  time: z.number(),
  direction: TapDirection,
  source: TapParty,
  destination: TapParty,
  /** Mesh mTLS on this hop (inbound: the caller proved an identity; outbound: the cluster's mtls). */
  tls: z.boolean(),
  method: z.string().max(64),
  scheme: z.enum(['http', 'https']),
  authority: z.string().max(1024),
  /** Path and query, as the client sent them. */
  path: z.string().max(8192),
  protocol: z.enum(['http1', 'http2']),
  grpc: z.boolean(),
  route: z.string().max(256).optional(),
  headers: TapHeaders.optional(),
});

export const TapResponseEvent = z.strictObject({
  type: z.literal('rsp'),
  id: z.number().int().nonnegative(),
  status: z.number().int(),
  /** From the request head to the response head. */
  latencyUs: z.number().int().nonnegative(),
  headers: TapHeaders.optional(),
});

export const TapEndEvent = z.strictObject({
  type: z.literal('end'),
  id: z.number().int().nonnegative(),
  /** The status the client saw (499: it left before an answer). */
  status: z.number().int(),
  grpcStatus: z.number().int().optional(),
  /** The proxy error that ended it (TRELLIS_...). */
  error: z.string().max(128).optional(),
  durationUs: z.number().int().nonnegative(),
  requestBytes: z.number().int().nonnegative(),
  responseBytes: z.number().int().nonnegative(),
  requestBody: TapBody.optional(),
  responseBody: TapBody.optional(),
  trailers: TapHeaders.optional(),
});

export const TapEvent = z.discriminatedUnion('type', [TapRequestEvent, TapResponseEvent, TapEndEvent]);
export type TapEvent = z.infer<typeof TapEvent>;
export type TapRequestEvent = z.infer<typeof TapRequestEvent>;
export type TapResponseEvent = z.infer<typeof TapResponseEvent>;
export type TapEndEvent = z.infer<typeof TapEndEvent>;

/** Events per batch a proxy sends at most (and a batch stays far below the stream's 1 MiB). */
export const MAX_TAP_BATCH = 64;

/** Which proxy an event came from, as the control plane adds it. */
export const TapProxy = z.strictObject({ name: z.string(), namespace: z.string() });

/**
 * A line of `POST /api/v1/tap`'s NDJSON answer. Events carry `id` = `P:N` (the proxy's number in
 * this tap, the request's number on that proxy) and the proxy; notes say when the tap started,
 * what was dropped (rate limits, a slow reader) and that the stream is alive.
 */
export const TapLine = z.union([
  TapRequestEvent.extend({ id: z.string(), proxy: TapProxy }),
  TapResponseEvent.extend({ id: z.string(), proxy: TapProxy }),
  TapEndEvent.extend({ id: z.string(), proxy: TapProxy }),
  z.strictObject({
    type: z.literal('started'),
    id: z.string(),
    target: z.strictObject({
      kind: z.enum(['service', 'workload']),
      namespace: z.string(),
      name: z.string(),
    }),
    direction: TapDirection,
    proxies: z.number().int(),
  }),
  /** Since the previous note: requests the proxies skipped, events the control plane dropped. */
  z.strictObject({ type: z.literal('dropped'), requests: z.number().int(), events: z.number().int() }),
  z.strictObject({ type: z.literal('heartbeat'), proxies: z.number().int() }),
]);
export type TapLine = z.infer<typeof TapLine>;
export type TapEventLine = Extract<TapLine, { type: 'req' | 'rsp' | 'end' }>;
