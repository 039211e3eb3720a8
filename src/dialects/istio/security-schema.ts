// Istio's PeerAuthentication, AuthorizationPolicy and RequestAuthentication (security.istio.io v1,
// v1beta1), every field of the API, with the checks Istio's validation makes. Unlike the
// networking kinds, an unknown field is an error (see common/closed.ts).
import net from 'node:net';
import { z } from 'zod';
import { closedObject } from '../common/closed.ts';
import { GoDuration } from '../common/duration.ts';
import { dialectResource } from '../common/metadata.ts';

export const ISTIO_SECURITY = ['security.istio.io/v1', 'security.istio.io/v1beta1'] as const;

const Strings = z.array(z.string().min(1)).optional();

/** A single IP or a CIDR block, as `ipBlocks` and `source.ip` take them. */
export function isIpOrCidr(text: string): boolean {
  const [addr = '', len, extra] = text.split('/');
  const family = net.isIP(addr);
  if (family === 0 || extra !== undefined) return false;
  if (len === undefined) return true;
  const bits = Number(len);
  return /^\d+$/.test(len) && bits <= (family === 4 ? 32 : 128);
}

const IpBlocks = z
  .array(z.string().refine(isIpOrCidr, 'must be an IP address or a CIDR block (e.g. "10.0.0.0/16")'))
  .optional();
const PortText = z
  .string()
  .refine((p) => /^\d+$/.test(p) && Number(p) <= 65535, 'must be a port number in 0..65535');

/** `selector.matchLabels`; an empty one selects like no selector, as in Istio. */
export const WorkloadSelector = closedObject({ matchLabels: z.record(z.string(), z.string()).optional() });
export type WorkloadSelector = z.infer<typeof WorkloadSelector>;

/** Istio's PolicyTargetReference (a Gateway API Gateway or a Service). */
export const TargetRef = closedObject({
  group: z.string().optional(),
  kind: z.string().min(1),
  name: z.string().min(1),
  namespace: z.string().optional(),
});
export type TargetRef = z.infer<typeof TargetRef>;

/** selector, targetRef, targetRefs: shared by the policy kinds and Telemetry. */
export const Targeting = {
  selector: WorkloadSelector.optional(),
  targetRef: TargetRef.optional(),
  targetRefs: z.array(TargetRef).optional(),
};

export function checkTargeting(
  s: { selector?: WorkloadSelector | undefined; targetRef?: TargetRef | undefined; targetRefs?: TargetRef[] },
  ctx: z.RefinementCtx,
): void {
  const refs = s.targetRef !== undefined || (s.targetRefs ?? []).length > 0;
  if (s.targetRef !== undefined && s.targetRefs !== undefined)
    ctx.addIssue({ code: 'custom', path: ['targetRefs'], message: 'give targetRef or targetRefs, not both' });
  if (refs && Object.keys(s.selector?.matchLabels ?? {}).length > 0)
    ctx.addIssue({ code: 'custom', path: ['selector'], message: 'give selector or targetRef(s), not both' });
}

// --- PeerAuthentication ---

export const IstioMtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);
export type IstioMtlsMode = z.infer<typeof IstioMtlsMode>;
const MutualTls = closedObject({ mode: IstioMtlsMode.default('UNSET') });

export const PeerAuthenticationResource = dialectResource(
  ISTIO_SECURITY,
  'PeerAuthentication',
  closedObject({
    selector: WorkloadSelector.optional(),
    mtls: MutualTls.optional(),
    /** Keyed by the workload's port number. */
    portLevelMtls: z.record(PortText, MutualTls).optional(),
    portLevelTls: z.unknown().optional(),
  })
    .superRefine((s, ctx) => {
      const ports = Object.keys(s.portLevelMtls ?? {});
      if (ports.length > 0 && Object.keys(s.selector?.matchLabels ?? {}).length === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['portLevelMtls'],
          message: 'port-level mTLS needs a workload selector (Istio refuses it mesh- or namespace-wide)',
        });
      if (ports.includes('0'))
        ctx.addIssue({ code: 'custom', path: ['portLevelMtls'], message: 'port cannot be 0' });
    })
    .prefault({}),
);
export type PeerAuthenticationResource = z.infer<typeof PeerAuthenticationResource>;

// --- AuthorizationPolicy ---

// Which attributes a `when` condition may test (istio.io/docs/reference/config/security/conditions).
const CONDITION_KEY =
  /^(?:request\.headers\[[^\]]+\]|source\.ip|remote\.ip|source\.namespace|source\.principal|request\.auth\.principal|request\.auth\.audiences|request\.auth\.presenter|request\.auth\.claims(?:\[[^\]]+\])+|destination\.ip|destination\.port|connection\.sni|experimental\.envoy\.filters\.[a-z0-9_.]+\[[^\]]+\])$/;
const IP_KEYS: ReadonlySet<string> = new Set(['source.ip', 'remote.ip', 'destination.ip']);

const Source = closedObject({
  principals: Strings,
  notPrincipals: Strings,
  requestPrincipals: Strings,
  notRequestPrincipals: Strings,
  namespaces: Strings,
  notNamespaces: Strings,
  ipBlocks: IpBlocks,
  notIpBlocks: IpBlocks,
  remoteIpBlocks: IpBlocks,
  notRemoteIpBlocks: IpBlocks,
}).refine((s) => Object.keys(s).length > 0, 'a source needs at least one field');

const Operation = closedObject({
  hosts: Strings,
  notHosts: Strings,
  ports: z.array(PortText).optional(),
  notPorts: z.array(PortText).optional(),
  methods: Strings,
  notMethods: Strings,
  paths: Strings,
  notPaths: Strings,
}).refine((o) => Object.keys(o).length > 0, 'an operation needs at least one field');

export const Condition = closedObject({
  key: z.string().regex(CONDITION_KEY, 'not an attribute Istio conditions know (see its conditions page)'),
  values: Strings,
  notValues: Strings,
}).superRefine((c, ctx) => {
  if (c.values === undefined && c.notValues === undefined)
    ctx.addIssue({ code: 'custom', path: ['values'], message: 'give values or notValues' });
  const all = [...(c.values ?? []), ...(c.notValues ?? [])];
  if (IP_KEYS.has(c.key) && !all.every(isIpOrCidr))
    ctx.addIssue({ code: 'custom', path: ['values'], message: `${c.key} takes IP addresses or CIDR blocks` });
  if (c.key === 'destination.port' && !all.every((v) => PortText.safeParse(v).success))
    ctx.addIssue({ code: 'custom', path: ['values'], message: 'destination.port takes port numbers' });
});
export type Condition = z.infer<typeof Condition>;

export const AuthorizationRule = closedObject({
  from: z.array(closedObject({ source: Source })).optional(),
  to: z.array(closedObject({ operation: Operation })).optional(),
  when: z.array(Condition).optional(),
});
export type AuthorizationRule = z.infer<typeof AuthorizationRule>;

export const AuthorizationPolicyResource = dialectResource(
  ISTIO_SECURITY,
  'AuthorizationPolicy',
  closedObject({
    ...Targeting,
    action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).optional(),
    provider: closedObject({ name: z.string().min(1) }).optional(),
    /** Absent: the policy matches nothing (an ALLOW policy then allows nothing). */
    rules: z.array(AuthorizationRule).optional(),
  })
    .superRefine((s, ctx) => {
      checkTargeting(s, ctx);
      if (s.action === 'CUSTOM' && s.provider === undefined)
        ctx.addIssue({ code: 'custom', path: ['provider'], message: 'action CUSTOM needs a provider' });
      if (s.action !== 'CUSTOM' && s.provider !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['provider'],
          message: 'a provider goes with action CUSTOM only',
        });
    })
    .prefault({}),
);
export type AuthorizationPolicyResource = z.infer<typeof AuthorizationPolicyResource>;

// --- RequestAuthentication ---

// Istio's own example writes a header as a bare name; its schema wants { name, prefix }.
const JwtHeader = z.union([
  z
    .string()
    .min(1)
    .transform((name) => ({ name })),
  closedObject({ name: z.string().min(1), prefix: z.string().optional() }),
]);

const Jwks = z.string().refine((text) => {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && Array.isArray((v as { keys?: unknown }).keys);
  } catch {
    return false;
  }
}, 'must be a JSON Web Key Set: JSON with a "keys" array');

export const IstioJwtRule = closedObject({
  issuer: z.string().min(1),
  audiences: Strings,
  jwksUri: z.string().url().optional(),
  /** The CRD's alternative spelling of jwksUri. */
  jwks_uri: z.string().url().optional(),
  jwks: Jwks.optional(),
  /** Trellis addition: the JWKS in a file, for hosts without Kubernetes secrets. */
  jwksFile: z.string().min(1).optional(),
  fromHeaders: z.array(JwtHeader).optional(),
  fromParams: Strings,
  fromCookies: Strings,
  outputPayloadToHeader: z.string().min(1).optional(),
  forwardOriginalToken: z.boolean().optional(),
  outputClaimToHeaders: z
    .array(closedObject({ header: z.string().min(1), claim: z.string().min(1) }))
    .optional(),
  timeout: GoDuration.optional(),
})
  .superRefine((r, ctx) => {
    if (r.jwksUri !== undefined && r.jwks_uri !== undefined)
      ctx.addIssue({ code: 'custom', path: ['jwks_uri'], message: 'give jwksUri or jwks_uri, not both' });
    const given = [r.jwks, r.jwksUri ?? r.jwks_uri, r.jwksFile].filter((v) => v !== undefined);
    if (given.length > 1)
      ctx.addIssue({ code: 'custom', path: ['jwks'], message: 'give one of jwks, jwksUri, jwksFile' });
  })
  .transform(({ jwks_uri, ...r }) => (jwks_uri === undefined ? r : { ...r, jwksUri: jwks_uri }));
export type IstioJwtRule = z.infer<typeof IstioJwtRule>;

export const RequestAuthenticationResource = dialectResource(
  ISTIO_SECURITY,
  'RequestAuthentication',
  closedObject({ ...Targeting, jwtRules: z.array(IstioJwtRule).optional() })
    .superRefine(checkTargeting)
    .prefault({}),
);
export type RequestAuthenticationResource = z.infer<typeof RequestAuthenticationResource>;
