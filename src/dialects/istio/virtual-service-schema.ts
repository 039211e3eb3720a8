// Istio's VirtualService (networking.istio.io v1alpha3, v1beta1, v1), every field of the API.
// Fields Trellis cannot honour are accepted here and reported by the lowering, so a typo (an
// unknown field) and an unsupported feature get different warnings.
import { z } from 'zod';
import { GoDuration } from '../common/duration.ts';
import { dialectResource } from '../common/metadata.ts';
import { Re2Pattern } from '../common/regex.ts';

export const ISTIO_NETWORKING = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
] as const;

/** exact, prefix or regex; none of them (`{}`) tests presence where Istio allows it. */
export const StringMatch = z
  .strictObject({ exact: z.string().optional(), prefix: z.string().optional(), regex: Re2Pattern.optional() })
  .refine((m) => [m.exact, m.prefix, m.regex].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of exact, prefix, regex',
  });
export type StringMatch = z.infer<typeof StringMatch>;

const Percent = z.strictObject({ value: z.number().min(0).max(100) });
const PortSelector = z.strictObject({ number: z.number().int().min(1).max(65535) });

export const Destination = z.strictObject({
  host: z.string().min(1),
  subset: z.string().min(1).optional(),
  port: PortSelector.optional(),
});
export type Destination = z.infer<typeof Destination>;

const HeaderOperations = z.strictObject({
  set: z.record(z.string(), z.string()).optional(),
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string()).optional(),
});
export const Headers = z.strictObject({
  request: HeaderOperations.optional(),
  response: HeaderOperations.optional(),
});
export type Headers = z.infer<typeof Headers>;

export const HTTPMatchRequest = z.strictObject({
  name: z.string().optional(),
  uri: StringMatch.optional(),
  scheme: StringMatch.optional(),
  method: StringMatch.optional(),
  authority: StringMatch.optional(),
  headers: z.record(z.string(), StringMatch).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  sourceLabels: z.record(z.string(), z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  queryParams: z.record(z.string(), StringMatch).optional(),
  ignoreUriCase: z.boolean().optional(),
  withoutHeaders: z.record(z.string(), StringMatch).optional(),
  sourceNamespace: z.string().optional(),
  statPrefix: z.string().optional(),
});
export type HTTPMatchRequest = z.infer<typeof HTTPMatchRequest>;

export const HTTPRouteDestination = z.strictObject({
  destination: Destination,
  weight: z.number().int().min(0).max(100).optional(),
  headers: Headers.optional(),
});

const HTTPRetry = z.strictObject({
  attempts: z.number().int().min(0).optional(),
  perTryTimeout: GoDuration.optional(),
  retryOn: z.string().optional(),
  retryRemoteLocalities: z.boolean().optional(),
  retryIgnorePreviousHosts: z.boolean().optional(),
  backoff: GoDuration.optional(),
});
export type HTTPRetry = z.infer<typeof HTTPRetry>;

const HTTPFaultInjection = z.strictObject({
  delay: z
    .strictObject({
      fixedDelay: GoDuration.optional(),
      exponentialDelay: GoDuration.optional(),
      percentage: Percent.optional(),
      percent: z.number().int().min(0).max(100).optional(),
    })
    .optional(),
  abort: z
    .strictObject({
      httpStatus: z.number().int().min(200).max(599).optional(),
      grpcStatus: z.string().optional(),
      http2Error: z.string().optional(),
      percentage: Percent.optional(),
      // Deprecated integer form, still in Istio's published samples.
      percent: z.number().int().min(0).max(100).optional(),
    })
    .optional(),
});
export type HTTPFaultInjection = z.infer<typeof HTTPFaultInjection>;

const CorsPolicy = z.strictObject({
  allowOrigins: z.array(StringMatch).optional(),
  allowOrigin: z.array(z.string()).optional(),
  allowMethods: z.array(z.string()).optional(),
  allowHeaders: z.array(z.string()).optional(),
  exposeHeaders: z.array(z.string()).optional(),
  maxAge: GoDuration.optional(),
  allowCredentials: z.boolean().optional(),
  unmatchedPreflights: z.string().optional(),
});
export type IstioCorsPolicy = z.infer<typeof CorsPolicy>;

export const HTTPRoute = z.strictObject({
  name: z.string().optional(),
  match: z.array(HTTPMatchRequest).optional(),
  route: z.array(HTTPRouteDestination).optional(),
  redirect: z
    .strictObject({
      uri: z.string().optional(),
      authority: z.string().optional(),
      port: z.number().int().min(1).max(65535).optional(),
      derivePort: z.string().optional(),
      scheme: z.string().optional(),
      redirectCode: z.number().int().optional(),
    })
    .optional(),
  directResponse: z
    .strictObject({
      status: z.number().int().min(200).max(599),
      body: z.strictObject({ string: z.string().optional(), bytes: z.string().optional() }).optional(),
    })
    .optional(),
  delegate: z.strictObject({ name: z.string(), namespace: z.string().optional() }).optional(),
  rewrite: z
    .strictObject({
      uri: z.string().optional(),
      authority: z.string().optional(),
      uriRegexRewrite: z.strictObject({ match: Re2Pattern, rewrite: z.string() }).optional(),
    })
    .optional(),
  timeout: GoDuration.optional(),
  retries: HTTPRetry.optional(),
  fault: HTTPFaultInjection.optional(),
  mirror: Destination.optional(),
  mirrors: z.array(z.strictObject({ destination: Destination, percentage: Percent.optional() })).optional(),
  mirrorPercentage: Percent.optional(),
  mirrorPercent: z.number().int().min(0).max(100).optional(),
  mirror_percent: z.number().int().min(0).max(100).optional(),
  corsPolicy: CorsPolicy.optional(),
  headers: Headers.optional(),
});
export type IstioHTTPRoute = z.infer<typeof HTTPRoute>;

const L4Match = z.strictObject({
  destinationSubnets: z.array(z.string()).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  sourceLabels: z.record(z.string(), z.string()).optional(),
  gateways: z.array(z.string()).optional(),
  sourceNamespace: z.string().optional(),
  sniHosts: z.array(z.string()).optional(),
});
export type L4Match = z.infer<typeof L4Match>;

const RouteDestination = z.strictObject({
  destination: Destination,
  weight: z.number().int().min(0).max(100).optional(),
});
export const TCPRoute = z.strictObject({
  match: z.array(L4Match).optional(),
  route: z.array(RouteDestination).optional(),
});
export type IstioTCPRoute = z.infer<typeof TCPRoute>;

export const VirtualServiceResource = dialectResource(
  ISTIO_NETWORKING,
  'VirtualService',
  z.strictObject({
    hosts: z.array(z.string().min(1)).default([]),
    gateways: z.array(z.string()).optional(),
    http: z.array(HTTPRoute).default([]),
    tls: z
      .array(
        z.strictObject({ match: z.array(L4Match).optional(), route: z.array(RouteDestination).optional() }),
      )
      .optional(),
    tcp: z.array(TCPRoute).default([]),
    exportTo: z.array(z.string()).optional(),
  }),
);
export type VirtualServiceResource = z.infer<typeof VirtualServiceResource>;
