// The authorization decision, as Istio defines it (concepts/security "Authorization"):
// 1. a request matched by any DENY policy is denied;
// 2. else, when the workload has ALLOW policies, it is allowed only if one of them matches;
// 3. else it is allowed.
// AUDIT policies never change the decision; the decision names the ones that matched. A policy
// without rules matches nothing (an ALLOW one is "allow-nothing"); a rule `{}` matches everything.
// CUSTOM (ext_authz) is not part of the model. Policies are compiled once per config.
import type { AuthzPolicy } from '../model/security.ts';
import { RequestView } from './attributes.ts';
import type { RequestAttributes } from './attributes.ts';
import { AuthzConfigError } from './errors.ts';
import type { AuthzProblem } from './errors.ts';
import { clausesFor, clausesMatch, compileRule } from './rules.ts';
import type { Action, CompiledRule } from './rules.ts';

export interface AuthzDecision {
  allowed: boolean;
  /** The policy that decided: the DENY that matched, or the ALLOW that matched. */
  policy?: string;
  reason: string;
  /** AUDIT policies that matched. */
  audit: string[];
}

export interface Authorizer {
  /** No policy at all: every request is allowed and the check can be skipped. */
  readonly empty: boolean;
  check(attrs: RequestAttributes): AuthzDecision;
}

export interface CompiledPolicy {
  name: string;
  action: Action;
  rules: CompiledRule[];
}

/** The first rule of `policy` that matches, or -1 (always -1 for a policy without rules). */
export function matchingRule(policy: CompiledPolicy, req: RequestView): number {
  for (const rule of policy.rules) {
    const clauses = clausesFor(rule, req);
    if (clauses !== null && clausesMatch(clauses, req)) return rule.index;
  }
  return -1;
}

/** Compiles every policy, or throws AuthzConfigError listing every problem. */
export function compilePolicies(policies: readonly AuthzPolicy[]): CompiledPolicy[] {
  const problems: AuthzProblem[] = [];
  const compiled = policies.map((p): CompiledPolicy => {
    // The model's schema defaults these; a policy built in code may leave them out.
    const action: Action = p.action ?? 'ALLOW';
    const rules = (p.rules ?? []).map((r, i) =>
      compileRule(r, i, action, (path, message) => problems.push({ policy: p.name, path, message })),
    );
    return { name: p.name, action, rules };
  });
  if (problems.length > 0) throw new AuthzConfigError(problems);
  return compiled;
}

const NO_AUDIT: string[] = [];

class PolicyAuthorizer implements Authorizer {
  readonly empty: boolean;
  private readonly deny: CompiledPolicy[];
  private readonly allow: CompiledPolicy[];
  private readonly audit: CompiledPolicy[];

  constructor(policies: CompiledPolicy[]) {
    this.empty = policies.length === 0;
    this.deny = policies.filter((p) => p.action === 'DENY');
    this.allow = policies.filter((p) => p.action === 'ALLOW');
    this.audit = policies.filter((p) => p.action === 'AUDIT');
  }

  check(attrs: RequestAttributes): AuthzDecision {
    if (this.empty) return { allowed: true, reason: 'no authorization policies', audit: NO_AUDIT };
    const req = new RequestView(attrs);
    let audit = NO_AUDIT;
    for (const p of this.audit) if (matchingRule(p, req) >= 0) audit = [...audit, p.name];
    for (const p of this.deny) {
      const rule = matchingRule(p, req);
      if (rule >= 0)
        return {
          allowed: false,
          policy: p.name,
          reason: `DENY policy ${p.name} rules[${rule}] matched`,
          audit,
        };
    }
    if (this.allow.length === 0)
      return { allowed: true, reason: 'no DENY policy matched and no ALLOW policy applies', audit };
    for (const p of this.allow) {
      const rule = matchingRule(p, req);
      if (rule >= 0)
        return {
          allowed: true,
          policy: p.name,
          reason: `ALLOW policy ${p.name} rules[${rule}] matched`,
          audit,
        };
    }
    return { allowed: false, reason: 'no ALLOW policy matched', audit };
  }
}

/** Throws AuthzConfigError (TRELLIS_AUTHZ_INVALID) for bad CIDRs, ports, templates, `when` keys. */
export function compileAuthorization(policies: AuthzPolicy[]): Authorizer {
  return new PolicyAuthorizer(compilePolicies(policies));
}
