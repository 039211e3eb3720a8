// `trellis authz explain`: the decision, and for every policy and rule whether it matched and, when
// not, each field that did not (the value the request carried and the patterns it missed).
import type { AuthzPolicy } from '../model/security.ts';
import { RequestView } from './attributes.ts';
import type { RequestAttributes } from './attributes.ts';
import { compileAuthorization, compilePolicies, matchingRule } from './engine.ts';
import type { AuthzDecision } from './engine.ts';
import { clausesFor, mismatches } from './rules.ts';

export interface AuthzRuleExplanation {
  index: number;
  matched: boolean;
  /** e.g. "from[0].source.principals: cluster.local/ns/default/sa/web not in [...]" */
  mismatches: string[];
  /** HTTP-only fields left out for a TCP connection (DENY and AUDIT rules, as Istio does). */
  ignored?: string[];
}

export interface AuthzPolicyExplanation {
  name: string;
  action: string;
  matched: boolean;
  rules: AuthzRuleExplanation[];
  /** Said of a policy without rules: it matches nothing. */
  note?: string;
}

export interface AuthzExplanation {
  decision: AuthzDecision;
  policies: AuthzPolicyExplanation[];
}

/** Throws AuthzConfigError as compileAuthorization does. */
export function explainAuthorization(policies: AuthzPolicy[], attrs: RequestAttributes): AuthzExplanation {
  const decision = compileAuthorization(policies).check(attrs);
  const req = new RequestView(attrs);
  const explained = compilePolicies(policies).map((policy): AuthzPolicyExplanation => {
    const rules = policy.rules.map((rule): AuthzRuleExplanation => {
      const clauses = clausesFor(rule, req);
      if (clauses === null) {
        return {
          index: rule.index,
          matched: false,
          mismatches: rule.httpOnlyFields.map(
            (f) => `${f}: HTTP-only; an ALLOW rule using it never matches a TCP connection`,
          ),
        };
      }
      const found = mismatches(clauses, req);
      const out: AuthzRuleExplanation = { index: rule.index, matched: found.length === 0, mismatches: found };
      if (!req.isHttp && rule.httpOnlyFields.length > 0)
        out.ignored = rule.httpOnlyFields.map(
          (f) => `${f}: HTTP-only, ignored for TCP in a ${policy.action} rule`,
        );
      return out;
    });
    const entry: AuthzPolicyExplanation = {
      name: policy.name,
      action: policy.action,
      matched: matchingRule(policy, req) >= 0,
      rules,
    };
    if (policy.rules.length === 0)
      entry.note =
        policy.action === 'ALLOW' ? 'no rules: matches nothing (allow-nothing)' : 'no rules: matches nothing';
    return entry;
  });
  return { decision, policies: explained };
}
