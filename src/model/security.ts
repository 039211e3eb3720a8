// Security in the internal model: the workload's certificate, how an inbound listener treats
// plaintext, which server identities an outbound cluster accepts, and the authentication and
// authorization policies checked on inbound traffic. Policy fields keep Istio's names
// (security.istio.io/v1) so lowering is a copy and an operator reads what they wrote.
import { z } from 'zod';

const Strings = z.array(z.string().min(1)).optional();

/** STRICT refuses plaintext; PERMISSIVE takes mTLS or plaintext (detected per connection). */
export const MtlsMode = z.enum(['STRICT', 'PERMISSIVE', 'DISABLE']);
export type MtlsMode = z.infer<typeof MtlsMode>;

/** An inbound listener's mTLS: terminate mesh TLS with the workload certificate. */
export const ListenerMtls = z.strictObject({ mode: MtlsMode.default('PERMISSIVE') });
export type ListenerMtls = z.infer<typeof ListenerMtls>;

/** A cluster whose endpoints are sidecars: originate mesh mTLS and check the server's SPIFFE ID. */
export const ClusterMtls = z.strictObject({
  /** SPIFFE IDs a server may present (the destination's service accounts); empty: any from the mesh. */
  identities: z.array(z.string().min(1)).default([]),
  /** SNI sent in the ClientHello (outbound|port||host, as Istio does); informative only. */
  serverName: z.string().optional(),
});
export type ClusterMtls = z.infer<typeof ClusterMtls>;

/**
 * The workload's certificate chain (leaf first), its private key, and the roots it trusts, as PEM
 * inline or in files. A sidecar fills these from memory (the key never leaves it); a static
 * config names files.
 */
export const WorkloadSecrets = z
  .strictObject({
    certChain: z.string().min(1).optional(),
    certChainFile: z.string().min(1).optional(),
    privateKey: z.string().min(1).optional(),
    privateKeyFile: z.string().min(1).optional(),
    trustBundle: z.string().min(1).optional(),
    trustBundleFile: z.string().min(1).optional(),
  })
  .refine((s) => !(s.certChain !== undefined && s.certChainFile !== undefined), {
    message: 'give certChain or certChainFile, not both',
  })
  .refine((s) => !(s.privateKey !== undefined && s.privateKeyFile !== undefined), {
    message: 'give privateKey or privateKeyFile, not both',
  })
  .refine((s) => !(s.trustBundle !== undefined && s.trustBundleFile !== undefined), {
    message: 'give trustBundle or trustBundleFile, not both',
  });
export type WorkloadSecrets = z.infer<typeof WorkloadSecrets>;

// --- Authorization (Istio AuthorizationPolicy, and SMI TrafficTarget lowered into it) ---

/** Who sends: principals are `<trust-domain>/ns/<ns>/sa/<sa>`, matched exact, `prefix*`, `*suffix` or `*`. */
export const AuthzSource = z.strictObject({
  principals: Strings,
  notPrincipals: Strings,
  requestPrincipals: Strings,
  notRequestPrincipals: Strings,
  namespaces: Strings,
  notNamespaces: Strings,
  ipBlocks: Strings,
  notIpBlocks: Strings,
  remoteIpBlocks: Strings,
  notRemoteIpBlocks: Strings,
});
export type AuthzSource = z.infer<typeof AuthzSource>;

/** What is asked: HTTP fields (hosts, methods, paths) cannot match a TCP connection. */
export const AuthzOperation = z.strictObject({
  hosts: Strings,
  notHosts: Strings,
  ports: Strings,
  notPorts: Strings,
  methods: Strings,
  notMethods: Strings,
  paths: Strings,
  notPaths: Strings,
  /** Trellis addition (SMI HTTPRouteGroup pathRegex): RE2 patterns matched against the whole path. */
  pathRegex: Strings,
});
export type AuthzOperation = z.infer<typeof AuthzOperation>;

/** `key` as Istio names it: request.headers[x], source.ip, source.namespace, request.auth.claims[c], … */
export const AuthzCondition = z.strictObject({
  key: z.string().min(1),
  values: Strings,
  notValues: Strings,
});
export type AuthzCondition = z.infer<typeof AuthzCondition>;

export const AuthzRule = z.strictObject({
  from: z.array(z.strictObject({ source: AuthzSource })).optional(),
  to: z.array(z.strictObject({ operation: AuthzOperation })).optional(),
  when: z.array(AuthzCondition).optional(),
});
export type AuthzRule = z.infer<typeof AuthzRule>;

export const AuthzPolicy = z.strictObject({
  /** `namespace/name` of the resource it came from: what `authz explain` and denials report. */
  name: z.string().min(1),
  action: z.enum(['ALLOW', 'DENY', 'AUDIT']).default('ALLOW'),
  /** No rules: an ALLOW policy matches nothing (allow-nothing), a DENY policy nothing either. */
  rules: z.array(AuthzRule).default([]),
});
export type AuthzPolicy = z.infer<typeof AuthzPolicy>;

// --- Request authentication (Istio RequestAuthentication jwtRules) ---

export const JwtRule = z
  .strictObject({
    issuer: z.string().min(1),
    /** Accepted `aud` values; empty: any audience. */
    audiences: Strings,
    /** JWKS as JSON text. */
    jwks: z.string().min(1).optional(),
    /** JWKS in a file (Trellis addition for hosts without Kubernetes). */
    jwksFile: z.string().min(1).optional(),
    /** JWKS fetched over HTTP(S), cached and refreshed. */
    jwksUri: z.string().url().optional(),
    /** Default: `Authorization: Bearer <token>`. */
    fromHeaders: z
      .array(z.strictObject({ name: z.string().min(1), prefix: z.string().optional() }))
      .optional(),
    /** Query parameters that may carry the token (default `access_token`). */
    fromParams: Strings,
    /** Keep the token on the request passed to the app (default: removed). */
    forwardOriginalToken: z.boolean().default(false),
    /** Header that receives the verified payload, base64url JSON. */
    outputPayloadToHeader: z.string().min(1).optional(),
  })
  .refine((r) => [r.jwks, r.jwksFile, r.jwksUri].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of jwks, jwksFile, jwksUri',
  });
export type JwtRule = z.infer<typeof JwtRule>;

/** Everything checked on inbound traffic, in order: JWT authentication, then authorization. */
export const InboundSecurity = z.strictObject({
  jwtRules: z.array(JwtRule).default([]),
  authorization: z.array(AuthzPolicy).default([]),
  /** The port policies see as `destination.port` (the app's); default: the listener's. */
  destinationPort: z.number().int().min(1).max(65535).optional(),
});
export type InboundSecurity = z.infer<typeof InboundSecurity>;
