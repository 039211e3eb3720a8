// The inbound security of one workload, from the security kinds of Istio (PeerAuthentication,
// AuthorizationPolicy, RequestAuthentication) and SMI (TrafficTarget over HTTPRouteGroup and
// TCPRoute). Pure and deterministic: resources are sorted before use, so the order they were
// stored or listed in never matters. Warnings reach `trellis apply` and `trellis analyze` through
// lowerMeshState (lower.ts), like every other dialect's.
import type { AuthzPolicy, InboundSecurity, JwtRule, MtlsMode } from '../model/security.ts';
import type { WorkloadResource } from '../resources/kinds.ts';
import { byNamespaceName, Warnings, type DialectWarning } from './common/lowering.ts';
import { inScope, selectorLabels, workloadIdentity, type WorkloadIdentity } from './common/selector.ts';
import {
  lowerAuthorizationPolicy,
  lowerJwtRules,
  policyScope,
  scopeIncludes,
  type PolicyScope,
} from './istio/authorization.ts';
import { checkPeerAuthentications, checkPortLevelMtls, resolveMtls } from './istio/peer-authentication.ts';
import type { PeerAuthenticationResource } from './istio/security-schema.ts';
import { lowerTrafficTarget } from './smi/traffic-target.ts';
import type { DialectResource } from './types.ts';

export { workloadIdentity, type WorkloadIdentity };

export interface SecurityOptions {
  /** The SPIFFE trust domain of the mesh's principals (`<trustDomain>/ns/<ns>/sa/<sa>`). */
  trustDomain: string;
  /** Istio's root namespace: its policies are mesh-wide. Default `istio-system`. */
  rootNamespace?: string;
}

export interface SecurityOrigin {
  /** What it explains: `mtls`, `jwtRules[i]`, or an AuthzPolicy's name (`namespace/name`). */
  policy: string;
  /** The resource as written: `Kind/namespace/name`. */
  resource: string;
}

export interface WorkloadSecurity {
  mtls: MtlsMode;
  inbound: InboundSecurity;
  origins: SecurityOrigin[];
}

export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

interface ScopedAuthz {
  applies: (w: WorkloadIdentity) => boolean;
  policy: AuthzPolicy;
  sources: DialectResource[];
}

interface ScopedJwt {
  scope: PolicyScope;
  rules: JwtRule[];
  source: DialectResource;
}

/** The workload-independent part, lowered once: evaluate it per workload with `forWorkload`. */
export interface PreparedSecurity {
  forWorkload(w: WorkloadIdentity): WorkloadSecurity;
}

function resourceName(r: DialectResource): string {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

function keyed<R extends DialectResource>(list: readonly R[]): Map<string, R> {
  return new Map(list.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
}

function prepare(
  resources: readonly DialectResource[],
  opts: SecurityOptions,
  warnings: Warnings,
): PreparedSecurity & { peers: PeerAuthenticationResource[]; root: string } {
  const root = opts.rootNamespace ?? DEFAULT_ROOT_NAMESPACE;
  const sorted = [...resources].sort(byNamespaceName);
  const of = <K extends DialectResource['kind']>(kind: K) =>
    sorted.filter((r): r is Extract<DialectResource, { kind: K }> => r.kind === kind);
  const peers = of('PeerAuthentication');
  checkPeerAuthentications(peers, root, warnings);
  const authz: ScopedAuthz[] = [];
  for (const ap of of('AuthorizationPolicy')) {
    const scope = policyScope(ap, warnings);
    const policy = lowerAuthorizationPolicy(ap, warnings);
    if (policy !== undefined)
      authz.push({ applies: (w) => scopeIncludes(scope, w, root), policy, sources: [ap] });
  }
  const groups = keyed(of('HTTPRouteGroup'));
  const tcpRoutes = keyed(of('TCPRoute'));
  for (const tt of of('TrafficTarget')) {
    const lowered = lowerTrafficTarget(tt, groups, tcpRoutes, opts.trustDomain, warnings);
    if (lowered === undefined) continue;
    const { namespace, serviceAccount } = lowered.destination;
    authz.push({
      applies: (w) => w.namespace === namespace && w.serviceAccount === serviceAccount,
      policy: lowered.policy,
      sources: lowered.sources,
    });
  }
  const jwt: ScopedJwt[] = of('RequestAuthentication').map((ra) => ({
    scope: policyScope(ra, warnings),
    rules: lowerJwtRules(ra, warnings),
    source: ra,
  }));
  const forWorkload = (w: WorkloadIdentity): WorkloadSecurity => {
    const mtls = resolveMtls(peers, w, root, warnings);
    const origins: SecurityOrigin[] = mtls.applied.map((a) => ({
      policy: 'mtls',
      resource: resourceName(a.policy),
    }));
    const jwtRules: JwtRule[] = [];
    for (const j of jwt) {
      if (!scopeIncludes(j.scope, w, root)) continue;
      for (const rule of j.rules) {
        origins.push({ policy: `jwtRules[${jwtRules.length}]`, resource: resourceName(j.source) });
        jwtRules.push(rule);
      }
    }
    const authorization: AuthzPolicy[] = [];
    for (const a of authz) {
      if (!a.applies(w)) continue;
      authorization.push(a.policy);
      for (const s of a.sources) origins.push({ policy: a.policy.name, resource: resourceName(s) });
    }
    return { mtls: mtls.mode, inbound: { jwtRules, authorization }, origins };
  };
  return { forWorkload, peers, root };
}

/** Lowers the security kinds once, to evaluate for many workloads (warnings are dropped). */
export function prepareSecurity(
  resources: readonly DialectResource[],
  opts: SecurityOptions,
): PreparedSecurity {
  const { forWorkload } = prepare(resources, opts, new Warnings());
  return { forWorkload };
}

/** The mTLS mode, JWT rules and authorization policies of one workload. */
export function securityFor(
  resources: readonly DialectResource[],
  workload: WorkloadIdentity,
  opts: SecurityOptions,
): WorkloadSecurity {
  return prepareSecurity(resources, opts).forWorkload(workload);
}

/**
 * What lowering the security kinds has to say, about the resources themselves and about how they
 * meet the workloads (two workload-level PeerAuthentications on one workload, port-level
 * settings for a port no selected workload serves). Added to lowerMeshState's warnings.
 */
export function securityWarnings(
  resources: readonly DialectResource[],
  workloads: readonly WorkloadResource[],
  opts: Omit<SecurityOptions, 'trustDomain'>,
  warnings: Warnings,
): void {
  // The trust domain only spells principals; it changes no warning.
  const prepared = prepare(resources, { ...opts, trustDomain: 'cluster.local' }, warnings);
  const identities = [...workloads].sort(byWorkloadName).map(workloadIdentity);
  for (const w of identities) prepared.forWorkload(w);
  for (const pa of prepared.peers) {
    if (pa.spec.portLevelMtls === undefined) continue;
    const scope = { namespace: pa.metadata.namespace, selector: selectorLabels(pa.spec.selector) };
    const selected = identities.filter((w) => inScope(scope, w, prepared.root));
    checkPortLevelMtls(pa, selected, warnings);
  }
}

function byWorkloadName(a: WorkloadResource, b: WorkloadResource): number {
  const x = `${a.metadata.namespace}/${a.metadata.name}`;
  const y = `${b.metadata.namespace}/${b.metadata.name}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** securityWarnings on their own, as a list (for callers outside lowerMeshState). */
export function lowerSecurityWarnings(
  resources: readonly DialectResource[],
  workloads: readonly WorkloadResource[],
  opts: Omit<SecurityOptions, 'trustDomain'> = {},
): DialectWarning[] {
  const warnings = new Warnings();
  securityWarnings(resources, workloads, opts, warnings);
  return warnings.list;
}
