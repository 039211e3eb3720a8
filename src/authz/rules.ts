// A rule of a policy compiled into checks: `from` (any source), `to` (any operation) and `when`
// (every condition). Fields are compiled in Istio's order, so explain lists them as Istio would.
import type { AuthzOperation, AuthzRule, AuthzSource } from '../model/security.ts';
import type { RequestView } from './attributes.ts';
import {
  checksOf,
  clientIpCheck,
  peerIpCheck,
  peerNamespaceCheck,
  peerPrincipalCheck,
  portCheck,
  requestPrincipalCheck,
  stringCheck,
} from './checks.ts';
import type { Check, CheckBuilder } from './checks.ts';
import { compileCondition } from './conditions.ts';
import { pathPattern, regexPattern, stringPattern } from './patterns.ts';
import * as readers from './readers.ts';

/** Checks of one rule: any of `from`, any of `to` (empty: anything), all of `when`. */
export interface Clauses {
  from: Check[][];
  to: Check[][];
  when: Check[];
}

export interface CompiledRule {
  index: number;
  /** What an HTTP request is checked against. */
  http: Clauses;
  /** What a TCP connection is checked against; null when this rule can never match one. */
  tcp: Clauses | null;
  /** The HTTP-only fields the rule uses (what makes it unmatchable, or ignored, on TCP). */
  httpOnlyFields: string[];
}

export type Action = 'ALLOW' | 'DENY' | 'AUDIT';

/** Reports a problem found while compiling; compiling goes on so every problem is reported. */
export type ReportProblem = (path: string, message: string) => void;

const hostCheck = stringCheck(
  true,
  (p) => stringPattern(p, { ignoreCase: true, starIsPresence: true }),
  readers.host,
);
const methodCheck = stringCheck(true, (p) => stringPattern(p), readers.method);
const pathCheck = stringCheck(true, pathPattern, readers.path);
const pathRegexCheck = stringCheck(true, regexPattern, readers.path);

/** The checks of a field pair named `name` / `notName` under `at` (e.g. "from[0].source"). */
function fieldChecks(
  at: string,
  name: string,
  values: readonly string[] | undefined,
  notValues: readonly string[] | undefined,
  build: CheckBuilder,
  report: ReportProblem,
): Check[] {
  const notName = `not${name[0]?.toUpperCase() ?? ''}${name.slice(1)}`;
  return checksOf({ field: `${at}.${name}`, notField: `${at}.${notName}`, values, notValues }, build, report);
}

function sourceChecks(s: AuthzSource, at: string, report: ReportProblem): Check[] {
  return [
    ...fieldChecks(at, 'principals', s.principals, s.notPrincipals, peerPrincipalCheck, report),
    ...fieldChecks(
      at,
      'requestPrincipals',
      s.requestPrincipals,
      s.notRequestPrincipals,
      requestPrincipalCheck,
      report,
    ),
    ...fieldChecks(at, 'namespaces', s.namespaces, s.notNamespaces, peerNamespaceCheck, report),
    ...fieldChecks(at, 'ipBlocks', s.ipBlocks, s.notIpBlocks, peerIpCheck, report),
    ...fieldChecks(at, 'remoteIpBlocks', s.remoteIpBlocks, s.notRemoteIpBlocks, clientIpCheck, report),
  ];
}

function operationChecks(o: AuthzOperation, at: string, report: ReportProblem): Check[] {
  return [
    ...fieldChecks(at, 'hosts', o.hosts, o.notHosts, hostCheck, report),
    ...fieldChecks(at, 'ports', o.ports, o.notPorts, portCheck, report),
    ...fieldChecks(at, 'methods', o.methods, o.notMethods, methodCheck, report),
    ...fieldChecks(at, 'paths', o.paths, o.notPaths, pathCheck, report),
    // Trellis addition (SMI pathRegex): no `not` form.
    ...fieldChecks(at, 'pathRegex', o.pathRegex, undefined, pathRegexCheck, report),
  ];
}

/** Without its HTTP-only checks: what Istio keeps of a DENY or AUDIT rule on a TCP filter chain. */
function withoutHttp(c: Clauses): Clauses {
  const strip = (checks: Check[]) => checks.filter((k) => !k.httpOnly);
  return { from: c.from.map(strip), to: c.to.map(strip), when: strip(c.when) };
}

export function compileRule(
  rule: AuthzRule,
  index: number,
  action: Action,
  report: ReportProblem,
): CompiledRule {
  const at = `rules[${index}]`;
  const inRule: ReportProblem = (path, message) => report(`${at}.${path}`, message);
  const when = (rule.when ?? []).flatMap((c, i) => {
    try {
      return compileCondition(c, i);
    } catch (err) {
      inRule(`when[${i}]`, err instanceof Error ? err.message : String(err));
      return [];
    }
  });
  const http: Clauses = {
    from: (rule.from ?? []).map((f, i) => sourceChecks(f.source, `from[${i}].source`, inRule)),
    to: (rule.to ?? []).map((t, i) => operationChecks(t.operation, `to[${i}].operation`, inRule)),
    when,
  };
  const all = [...http.from.flat(), ...http.to.flat(), ...http.when];
  const httpOnlyFields = [...new Set(all.filter((c) => c.httpOnly).map((c) => c.field))];
  let tcp: Clauses | null = http;
  // Istio (pilot/pkg/security/authz/model/model.go, checkError): an ALLOW rule with an HTTP-only
  // field is left out of the TCP filter (it can never allow a connection); DENY and AUDIT rules keep
  // their other fields (they match more, never less).
  if (httpOnlyFields.length > 0) tcp = action === 'ALLOW' ? null : withoutHttp(http);
  return { index, http, tcp, httpOnlyFields };
}

function allPass(checks: Check[], req: RequestView): boolean {
  for (const c of checks) if (!c.test(req)) return false;
  return true;
}

function anyPasses(alternatives: Check[][], req: RequestView): boolean {
  if (alternatives.length === 0) return true;
  for (const checks of alternatives) if (allPass(checks, req)) return true;
  return false;
}

export function clausesMatch(c: Clauses, req: RequestView): boolean {
  return anyPasses(c.from, req) && anyPasses(c.to, req) && allPass(c.when, req);
}

/** The clauses a request is checked against: null when the rule cannot match it. */
export function clausesFor(rule: CompiledRule, req: RequestView): Clauses | null {
  return req.isHttp ? rule.http : rule.tcp;
}

/** Why the clauses did not match: every failing check of `from` and `to` (when none passed) and `when`. */
export function mismatches(c: Clauses, req: RequestView): string[] {
  const out: string[] = [];
  const alternatives = (alts: Check[][]) => {
    if (anyPasses(alts, req)) return;
    for (const checks of alts) for (const k of checks) if (!k.test(req)) out.push(k.why(req));
  };
  alternatives(c.from);
  alternatives(c.to);
  for (const k of c.when) if (!k.test(req)) out.push(k.why(req));
  return out;
}
