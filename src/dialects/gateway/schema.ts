// Gateway API HTTPRoute and GRPCRoute (gateway.networking.k8s.io v1, v1beta1, v1alpha2), as GAMMA
// uses them: attached to a Service through parentRefs. Standard and experimental fields are all
// accepted; the lowering warns about the ones it cannot honour.
import { z } from 'zod';
import { GoDuration } from '../common/duration.ts';
import { dialectResource } from '../common/metadata.ts';
import { Re2Pattern } from '../common/regex.ts';

export const GATEWAY_VERSIONS = [
  'gateway.networking.k8s.io/v1',
  'gateway.networking.k8s.io/v1beta1',
  'gateway.networking.k8s.io/v1alpha2',
] as const;

export const ParentRef = z.strictObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().min(1),
  sectionName: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
});
export type ParentRef = z.infer<typeof ParentRef>;

const Ref = {
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string().min(1),
  namespace: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
};
export const BackendObjectRef = z.strictObject(Ref);
export type BackendObjectRef = z.infer<typeof BackendObjectRef>;

const HeaderValues = z.array(z.strictObject({ name: z.string().min(1), value: z.string() }));
export const HeaderModifier = z.strictObject({
  set: HeaderValues.optional(),
  add: HeaderValues.optional(),
  remove: z.array(z.string()).optional(),
});
export type HeaderModifier = z.infer<typeof HeaderModifier>;

export const RequestMirror = z.strictObject({
  backendRef: BackendObjectRef,
  percent: z.number().int().min(0).max(100).optional(),
  fraction: z
    .strictObject({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).default(100) })
    .optional(),
});

const PathModifier = z.strictObject({
  type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
  replaceFullPath: z.string().optional(),
  replacePrefixMatch: z.string().optional(),
});

export const HTTPRouteFilter = z.strictObject({
  type: z.enum([
    'RequestHeaderModifier',
    'ResponseHeaderModifier',
    'RequestRedirect',
    'URLRewrite',
    'RequestMirror',
    'CORS',
    'ExternalAuth',
    'ExtensionRef',
  ]),
  requestHeaderModifier: HeaderModifier.optional(),
  responseHeaderModifier: HeaderModifier.optional(),
  requestRedirect: z
    .strictObject({
      scheme: z.enum(['http', 'https']).optional(),
      hostname: z.string().optional(),
      path: PathModifier.optional(),
      port: z.number().int().min(1).max(65535).optional(),
      statusCode: z.number().int().default(302),
    })
    .optional(),
  urlRewrite: z.strictObject({ hostname: z.string().optional(), path: PathModifier.optional() }).optional(),
  requestMirror: RequestMirror.optional(),
  cors: z
    .strictObject({
      allowOrigins: z.array(z.string()).optional(),
      allowCredentials: z.boolean().optional(),
      allowMethods: z.array(z.string()).optional(),
      allowHeaders: z.array(z.string()).optional(),
      exposeHeaders: z.array(z.string()).optional(),
      maxAge: z.number().int().min(1).optional(),
    })
    .optional(),
  externalAuth: z.unknown().optional(),
  extensionRef: z.unknown().optional(),
});
export type HTTPRouteFilter = z.infer<typeof HTTPRouteFilter>;

/** A `value` of type RegularExpression must be RE2, checked when applied. */
function re2When<T extends { type: string; value: string }>(v: T, ctx: z.RefinementCtx): void {
  if (v.type !== 'RegularExpression') return;
  const r = Re2Pattern.safeParse(v.value);
  if (!r.success)
    ctx.addIssue({ code: 'custom', path: ['value'], message: r.error.issues[0]?.message ?? 'invalid RE2' });
}

const HeaderMatchSchema = z
  .strictObject({
    type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
    name: z.string().min(1),
    value: z.string(),
  })
  .superRefine(re2When);
export type GatewayHeaderMatch = z.infer<typeof HeaderMatchSchema>;

export const HTTPRouteMatch = z.strictObject({
  path: z
    .strictObject({
      type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
      value: z.string().default('/'),
    })
    .superRefine(re2When)
    .optional(),
  headers: z.array(HeaderMatchSchema).optional(),
  queryParams: z.array(HeaderMatchSchema).optional(),
  method: z.string().optional(),
});
export type HTTPRouteMatch = z.infer<typeof HTTPRouteMatch>;

const BackendRef = <F extends z.ZodType>(filter: F) =>
  z.strictObject({
    ...Ref,
    weight: z.number().int().min(0).max(1_000_000).default(1),
    filters: z.array(filter).optional(),
  });

export const HTTPRouteRule = z.strictObject({
  name: z.string().optional(),
  matches: z.array(HTTPRouteMatch).optional(),
  filters: z.array(HTTPRouteFilter).optional(),
  backendRefs: z.array(BackendRef(HTTPRouteFilter)).optional(),
  timeouts: z
    .strictObject({ request: GoDuration.optional(), backendRequest: GoDuration.optional() })
    .optional(),
  retry: z
    .strictObject({
      codes: z.array(z.number().int().min(400).max(599)).optional(),
      attempts: z.number().int().min(0).optional(),
      backoff: GoDuration.optional(),
    })
    .optional(),
  sessionPersistence: z.unknown().optional(),
});
export type HTTPRouteRule = z.infer<typeof HTTPRouteRule>;

const RouteSpec = <R extends z.ZodType>(rule: R) =>
  z.strictObject({
    parentRefs: z.array(ParentRef).default([]),
    hostnames: z.array(z.string()).optional(),
    rules: z.array(rule).default([]),
  });

export const HTTPRouteResource = dialectResource(GATEWAY_VERSIONS, 'HTTPRoute', RouteSpec(HTTPRouteRule));
export type HTTPRouteResource = z.infer<typeof HTTPRouteResource>;

export const GRPCRouteFilter = z.strictObject({
  type: z.enum(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef']),
  requestHeaderModifier: HeaderModifier.optional(),
  responseHeaderModifier: HeaderModifier.optional(),
  requestMirror: RequestMirror.optional(),
  extensionRef: z.unknown().optional(),
});
export type GRPCRouteFilter = z.infer<typeof GRPCRouteFilter>;

export const GRPCRouteMatch = z.strictObject({
  method: z
    .strictObject({
      type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
      service: z.string().min(1).optional(),
      method: z.string().min(1).optional(),
    })
    .refine((m) => m.service !== undefined || m.method !== undefined, {
      message: 'give service, method or both',
    })
    .superRefine((m, ctx) => {
      if (m.type !== 'RegularExpression') return;
      for (const k of ['service', 'method'] as const) {
        const r = m[k] === undefined ? undefined : Re2Pattern.safeParse(m[k]);
        if (r !== undefined && !r.success)
          ctx.addIssue({ code: 'custom', path: [k], message: r.error.issues[0]?.message ?? 'invalid RE2' });
      }
    })
    .optional(),
  headers: z.array(HeaderMatchSchema).optional(),
});
export type GRPCRouteMatch = z.infer<typeof GRPCRouteMatch>;

export const GRPCRouteRule = z.strictObject({
  name: z.string().optional(),
  matches: z.array(GRPCRouteMatch).optional(),
  filters: z.array(GRPCRouteFilter).optional(),
  backendRefs: z.array(BackendRef(GRPCRouteFilter)).optional(),
  sessionPersistence: z.unknown().optional(),
});
export type GRPCRouteRule = z.infer<typeof GRPCRouteRule>;

export const GRPCRouteResource = dialectResource(GATEWAY_VERSIONS, 'GRPCRoute', RouteSpec(GRPCRouteRule));
export type GRPCRouteResource = z.infer<typeof GRPCRouteResource>;
