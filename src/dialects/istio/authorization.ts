// AuthorizationPolicy → the model's AuthzPolicy, RequestAuthentication → JwtRules: the model keeps
// Istio's field names, so this is a copy, minus what Trellis cannot do. What cannot be evaluated
// is left out the way Istio leaves out HTTP-only fields on TCP: an ALLOW (or AUDIT) rule that needs
// it matches nothing, a DENY rule is checked without it (it matches more), so leaving it out never
// lets through what the policy would have refused.
import { AuthzPolicy, JwtRule, type AuthzRule } from '../../model/security.ts';
import type { Warnings } from '../common/lowering.ts';
import { inScope, selectorLabels, type WorkloadIdentity } from '../common/selector.ts';
import type {
  AuthorizationPolicyResource,
  RequestAuthenticationResource,
  TargetRef,
} from './security-schema.ts';
import type { TelemetryResource } from './telemetry-schema.ts';

type Targeted = AuthorizationPolicyResource | RequestAuthenticationResource | TelemetryResource;

/** Who a policy applies to, once its targeting is read. */
export type PolicyScope =
  | { kind: 'selector'; namespace: string; selector: Record<string, string> | undefined }
  /** targetRef(s) to Services: the workloads of those services, i.e. labelled app=<name> in the namespace. */
  | { kind: 'services'; namespace: string; names: string[] };

function isServiceRef(ref: TargetRef): boolean {
  return ref.kind === 'Service' && (ref.group === undefined || ref.group === '' || ref.group === 'core');
}

/**
 * The scope of an AuthorizationPolicy, RequestAuthentication or Telemetry. A targetRef to a Service of the
 * policy's namespace is read as its workloads (their `app` label names their service); any other
 * target (a Gateway, another namespace) is no sidecar, warned about.
 */
export function policyScope(r: Targeted, warnings: Warnings): PolicyScope {
  const namespace = r.metadata.namespace;
  const refs = r.spec.targetRefs ?? (r.spec.targetRef === undefined ? undefined : [r.spec.targetRef]);
  if (refs === undefined || refs.length === 0)
    return { kind: 'selector', namespace, selector: selectorLabels(r.spec.selector) };
  const path = r.spec.targetRefs === undefined ? 'spec.targetRef' : 'spec.targetRefs';
  const names: string[] = [];
  refs.forEach((ref, i) => {
    const at = r.spec.targetRefs === undefined ? path : `${path}[${i}]`;
    if (!isServiceRef(ref))
      warnings.warn(
        r,
        at,
        `a ${ref.kind} is not a sidecar: Trellis applies policies to workloads (by selector or Service); this target selects none`,
      );
    else if ((ref.namespace ?? namespace) !== namespace)
      warnings.warn(
        r,
        `${at}.namespace`,
        "a target must be in the policy's namespace (as in Istio); ignored",
      );
    else names.push(ref.name);
  });
  return { kind: 'services', namespace, names };
}

export function scopeIncludes(scope: PolicyScope, w: WorkloadIdentity, rootNamespace: string): boolean {
  if (scope.kind === 'selector') return inScope(scope, w, rootNamespace);
  return w.namespace === scope.namespace && scope.names.includes(w.labels['app'] ?? '');
}

/**
 * The AuthzPolicy an AuthorizationPolicy lowers to (named `namespace/name`), or undefined when it
 * is not enforced: CUSTOM (an external authorizer Trellis does not call) and `istio.io/dry-run`.
 */
export function lowerAuthorizationPolicy(
  ap: AuthorizationPolicyResource,
  warnings: Warnings,
): AuthzPolicy | undefined {
  const action = ap.spec.action ?? 'ALLOW';
  if (action === 'CUSTOM') {
    warnings.warn(
      ap,
      'spec.action',
      `CUSTOM (provider "${ap.spec.provider?.name ?? ''}") is not supported: this policy is not applied, so nothing is sent to the external authorizer and what it would deny is not denied by it`,
    );
    return undefined;
  }
  if (ap.metadata.annotations?.['istio.io/dry-run'] === 'true') {
    warnings.warn(
      ap,
      'metadata.annotations',
      'istio.io/dry-run: not enforced, and not evaluated either (Trellis has no dry-run results)',
    );
    return undefined;
  }
  const rules: AuthzRule[] = [];
  (ap.spec.rules ?? []).forEach((rule, i) => {
    const when = [];
    let matchesNothing = false;
    for (const [j, c] of (rule.when ?? []).entries()) {
      if (!c.key.startsWith('experimental.')) {
        when.push(c);
        continue;
      }
      const path = `spec.rules[${i}].when[${j}].key`;
      if (action === 'DENY')
        warnings.warn(
          ap,
          path,
          'Envoy filter metadata is not available: condition left out (the rule denies more)',
        );
      else {
        warnings.warn(ap, path, 'Envoy filter metadata is not available: this rule matches nothing');
        matchesNothing = true;
      }
    }
    if (matchesNothing) return;
    rules.push({
      ...(rule.from === undefined ? {} : { from: rule.from }),
      ...(rule.to === undefined ? {} : { to: rule.to }),
      ...(when.length === 0 ? {} : { when }),
    });
  });
  return AuthzPolicy.parse({ name: `${ap.metadata.namespace}/${ap.metadata.name}`, action, rules });
}

/** The JWT rules of a RequestAuthentication, without the ones Trellis cannot verify (warned). */
export function lowerJwtRules(ra: RequestAuthenticationResource, warnings: Warnings): JwtRule[] {
  const out: JwtRule[] = [];
  (ra.spec.jwtRules ?? []).forEach((r, i) => {
    const path = `spec.jwtRules[${i}]`;
    if (r.fromCookies !== undefined)
      warnings.warn(ra, `${path}.fromCookies`, 'not supported: tokens are not looked for in cookies');
    if (r.outputClaimToHeaders !== undefined)
      warnings.warn(ra, `${path}.outputClaimToHeaders`, 'not supported: no claim headers are added');
    if (r.timeout !== undefined)
      warnings.warn(ra, `${path}.timeout`, 'not supported: JWKS fetches use the default timeout');
    if (r.jwks === undefined && r.jwksUri === undefined && r.jwksFile === undefined) {
      warnings.warn(
        ra,
        path,
        `no jwks, jwksUri or jwksFile: discovering the keys of "${r.issuer}" (OpenID Connect) is not supported; rule left out, so tokens of this issuer authenticate nobody`,
      );
      return;
    }
    const parsed = JwtRule.safeParse({
      issuer: r.issuer,
      ...(r.audiences === undefined ? {} : { audiences: r.audiences }),
      ...(r.jwks === undefined ? {} : { jwks: r.jwks }),
      ...(r.jwksFile === undefined ? {} : { jwksFile: r.jwksFile }),
      ...(r.jwksUri === undefined ? {} : { jwksUri: r.jwksUri }),
      ...(r.fromHeaders === undefined ? {} : { fromHeaders: r.fromHeaders }),
      ...(r.fromParams === undefined ? {} : { fromParams: r.fromParams }),
      forwardOriginalToken: r.forwardOriginalToken ?? false,
      ...(r.outputPayloadToHeader === undefined ? {} : { outputPayloadToHeader: r.outputPayloadToHeader }),
    });
    if (parsed.success) out.push(parsed.data);
    else
      warnings.warn(
        ra,
        path,
        `rule left out: ${parsed.error.issues.map((x) => `${x.path.join('.') || '(rule)'}: ${x.message}`).join('; ')}`,
      );
  });
  return out;
}
