// SMI TrafficTarget → one ALLOW AuthzPolicy on the workloads running as the destination service
// account: the sources' principals (`<trust domain>/ns/<ns>/sa/<sa>`), on the routes the rules
// name. Being an ALLOW policy, it also refuses everything else to that destination, as SMI's
// "denied by default" says. Whatever cannot be expressed allows nothing (warned): an unknown route
// group or match name, a header regex Istio's string match cannot say, a Group subject.
import type { AuthzCondition, AuthzOperation, AuthzPolicy, AuthzRule } from '../../model/security.ts';
import type { Warnings } from '../common/lowering.ts';
import type { DialectResource } from '../types.ts';
import type { TrafficRuleRef, TrafficTargetResource } from './access-schema.ts';
import type { HTTPRouteGroupResource, SmiHTTPMatch, SmiTCPRouteResource } from './schema.ts';

export interface LoweredTarget {
  /** The service account the policy protects. */
  destination: { namespace: string; serviceAccount: string };
  policy: AuthzPolicy;
  /** The TrafficTarget, then the route groups it read. */
  sources: DialectResource[];
}

/**
 * An RE2 header pattern as one Istio string match (exact, `prefix*`, `*suffix`, `*` = present),
 * or undefined when it says something else. SMI header patterns match the whole value.
 */
export function headerValueOf(pattern: string): string | undefined {
  let s = pattern.startsWith('^') ? pattern.slice(1) : pattern;
  if (s.endsWith('$') && !s.endsWith('\\$')) s = s.slice(0, -1);
  if (s === '.*' || s === '.+') return '*';
  const suffix = s.startsWith('.*');
  if (suffix) s = s.slice(2);
  const prefix = s.endsWith('.*') && !s.endsWith('\\.*');
  if (prefix) s = s.slice(0, -2);
  if (prefix && suffix) return undefined;
  let literal = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const next = s[i + 1];
      // An escaped punctuation character is itself; \d, \w and the like are classes.
      if (next === undefined || /[A-Za-z0-9]/.test(next)) return undefined;
      literal += next;
      i++;
    } else if (/[.+*?()|[\]{}^$]/.test(c)) return undefined;
    else literal += c;
  }
  if (literal === '' || literal.includes('*')) return undefined;
  return suffix ? `*${literal}` : prefix ? `${literal}*` : literal;
}

function headerFilters(m: SmiHTTPMatch): [string, string][] {
  const list = Array.isArray(m.headers) ? m.headers : m.headers === undefined ? [] : [m.headers];
  return list.flatMap((f) => Object.entries(f));
}

/** The rule one HTTPRouteGroup match allows, or a reason it cannot be said. */
function httpRule(m: SmiHTTPMatch, from: AuthzRule['from'], ports: string[] | undefined): AuthzRule | string {
  const op: AuthzOperation = {};
  // Anchored at the start only, as the SMI spec says (and as TrafficSplit matches read it).
  if (m.pathRegex !== undefined) op.pathRegex = [`(?:${m.pathRegex}).*`];
  const methods = m.methods ?? [];
  if (methods.length > 0 && !methods.includes('*')) op.methods = methods;
  if (ports !== undefined) op.ports = ports;
  const when: AuthzCondition[] = [];
  for (const [name, pattern] of headerFilters(m)) {
    const value = headerValueOf(pattern);
    if (value === undefined)
      return `header "${name}: ${pattern}" is not an exact, prefix, suffix or presence match`;
    when.push({ key: `request.headers[${name.toLowerCase()}]`, values: [value] });
  }
  return {
    from,
    ...(Object.keys(op).length === 0 ? {} : { to: [{ operation: op }] }),
    ...(when.length === 0 ? {} : { when }),
  };
}

export function lowerTrafficTarget(
  tt: TrafficTargetResource,
  groups: ReadonlyMap<string, HTTPRouteGroupResource>,
  tcpRoutes: ReadonlyMap<string, SmiTCPRouteResource>,
  trustDomain: string,
  warnings: Warnings,
): LoweredTarget | undefined {
  const warn = (path: string, message: string): void => warnings.warn(tt, path, message);
  const ns = tt.metadata.namespace;
  const { destination } = tt.spec;
  const destNs = destination.namespace ?? ns;
  if (destNs !== ns) {
    warn(
      'spec.destination.namespace',
      `a TrafficTarget grants access to service accounts of its own namespace only (${ns}); ignored`,
    );
    return undefined;
  }
  const principals: string[] = [];
  (tt.spec.sources ?? []).forEach((s, i) => {
    if (s.kind === 'Group') warn(`spec.sources[${i}]`, 'Group subjects are not supported: allowed nothing');
    else principals.push(`${trustDomain}/ns/${s.namespace ?? ns}/sa/${s.name}`);
  });
  const from = [{ source: { principals } }];
  const ports = destination.port === undefined ? undefined : [String(destination.port)];
  const listPath = tt.spec.specs === undefined ? 'spec.rules' : 'spec.specs';
  const refs: TrafficRuleRef[] = tt.spec.specs ?? tt.spec.rules ?? [];
  const sources: DialectResource[] = [tt];
  const rules: AuthzRule[] = [];
  if (principals.length === 0)
    warn('spec.sources', 'no ServiceAccount sources: this TrafficTarget allows nothing');
  if (refs.length === 0) warn(listPath, 'no rules: this TrafficTarget allows nothing');
  refs.forEach((ref, i) => {
    const path = `${listPath}[${i}]`;
    const key = `${ref.namespace ?? ns}/${ref.name}`;
    if (ref.kind === 'TCPRoute') {
      const route = tcpRoutes.get(key);
      if (route === undefined)
        return warn(path, `TCPRoute ${key} does not exist (yet): this rule allows nothing`);
      sources.push(route);
      const routePorts = (route.spec.matches?.ports ?? []).map(String);
      const allowed =
        routePorts.length === 0
          ? ports
          : ports === undefined
            ? routePorts
            : routePorts.filter((p) => ports.includes(p));
      if (allowed !== undefined && allowed.length === 0)
        return warn(
          path,
          `the destination port is not among TCPRoute ${key}'s ports: this rule allows nothing`,
        );
      rules.push({ from, ...(allowed === undefined ? {} : { to: [{ operation: { ports: allowed } }] }) });
      return;
    }
    const group = groups.get(key);
    if (group === undefined)
      return warn(path, `HTTPRouteGroup ${key} does not exist (yet): this rule allows nothing`);
    sources.push(group);
    const names = ref.matches ?? [];
    const matches =
      names.length === 0
        ? group.spec.matches
        : names.flatMap((name, j) => {
            const m = group.spec.matches.find((x) => x.name === name);
            if (m === undefined)
              warn(
                `${path}.matches[${j}]`,
                `HTTPRouteGroup ${key} has no match "${name}": it allows nothing`,
              );
            return m === undefined ? [] : [m];
          });
    for (const m of matches) {
      const rule = httpRule(m, from, ports);
      if (typeof rule === 'string')
        warn(path, `match "${m.name}" of HTTPRouteGroup ${key} allows nothing: ${rule}`);
      else rules.push(rule);
    }
  });
  return {
    destination: { namespace: destNs, serviceAccount: destination.name },
    policy: {
      name: `${ns}/${tt.metadata.name}`,
      action: 'ALLOW',
      rules: principals.length === 0 ? [] : rules,
    },
    sources: [...new Set(sources)],
  };
}
