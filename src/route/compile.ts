// Lowers a model RouteTable into compiled matchers, collecting every problem on the way. Used both
// to build a Router and to validate a config file (load.ts reports the problems with positions).
import type { RE2JS } from 're2js';
import { re2 } from './re2.ts';
import { TrellisError } from '../errors.ts';
import type { HeaderMatch, QueryMatch, Route, RouteMatch, RouteTable } from '../model/schema.ts';
import {
  CompiledHeaderMatch,
  CompiledQueryMatch,
  KIND_ANY,
  KIND_EXACT,
  KIND_PREFIX,
  KIND_REGEX,
  KIND_SUFFIX,
  type ValueKind,
} from './matchers.ts';
import { routePolicyProblems } from '../policy/validate.ts';
import type { MatchedRoute, RouteProblem } from './types.ts';

type Path = (string | number)[];

/** A route table that cannot be compiled (e.g. a regex RE2 rejects). */
export class RouteCompileError extends TrellisError {
  readonly problems: RouteProblem[];
  constructor(table: string, problems: RouteProblem[]) {
    const detail = problems.map((p) => `${p.path.join('.')}: ${p.message}`).join('; ');
    super('TRELLIS_ROUTE_INVALID', `route table "${table}" is invalid: ${detail}`);
    this.problems = problems;
  }
}

/** One route as the proxy sees it once matched; shared by every request that takes the route. */
export class CompiledRouteResult implements MatchedRoute {
  readonly name: string;
  readonly virtualHost: string;
  readonly timeoutMs: number;
  readonly config: Route;
  private readonly clusters: string[] = [];
  /** Running totals of the positive weights, so a pick is one random number and a short scan. */
  private readonly cumulative: number[] = [];
  private readonly total: number;

  constructor(route: Route, virtualHost: string, index: number) {
    this.name = route.name ?? `${virtualHost}/${index}`;
    this.virtualHost = virtualHost;
    this.timeoutMs = route.timeout ?? 0;
    this.config = route;
    let sum = 0;
    for (const b of route.backends) {
      if (b.weight <= 0) continue;
      sum += b.weight;
      this.clusters.push(b.cluster);
      this.cumulative.push(sum);
    }
    this.total = sum;
  }

  pickCluster(): string | undefined {
    const n = this.clusters.length;
    if (n <= 1) return this.clusters[0];
    const r = Math.random() * this.total;
    for (let i = 0; i < n - 1; i++) if (r < this.cumulative[i]!) return this.clusters[i];
    return this.clusters[n - 1];
  }
}

export interface CompiledMatch {
  readonly pathKind: ValueKind;
  readonly pathText: string;
  readonly pathRegex: RE2JS | null;
  readonly methods: readonly string[] | null;
  readonly headers: readonly CompiledHeaderMatch[];
  readonly query: readonly CompiledQueryMatch[];
}

export interface CompiledRoute {
  /** Any of these matches selects the route; empty = the route matches every request. */
  readonly matches: readonly CompiledMatch[];
  readonly result: CompiledRouteResult;
}

export interface CompiledTable {
  readonly domains: string[][];
  readonly vhosts: CompiledRoute[][];
}

function compileRegex(pattern: string, path: Path, problems: RouteProblem[]): RE2JS | null {
  try {
    return re2().compile(pattern);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    problems.push({ path, message: `invalid regex ${JSON.stringify(pattern)}: ${reason}` });
    return null;
  }
}

interface ValueSpec {
  exact?: string | undefined;
  prefix?: string | undefined;
  suffix?: string | undefined;
  regex?: string | undefined;
}

/** The one value test a path/header/query match names (problems if it names several). */
function lowerValue(
  spec: ValueSpec,
  extra: number,
  allowed: string,
  path: Path,
  problems: RouteProblem[],
): { kind: ValueKind; text: string; regex: RE2JS | null } {
  const given = [spec.exact, spec.prefix, spec.suffix, spec.regex].filter((v) => v !== undefined).length;
  if (given + extra > 1) problems.push({ path, message: `give at most one of ${allowed}` });
  // Compiled even beside a conflicting test, so a bad pattern is reported in the same pass.
  const regex = spec.regex === undefined ? null : compileRegex(spec.regex, [...path, 'regex'], problems);
  if (spec.exact !== undefined) return { kind: KIND_EXACT, text: spec.exact, regex: null };
  if (spec.prefix !== undefined) return { kind: KIND_PREFIX, text: spec.prefix, regex: null };
  if (spec.suffix !== undefined) return { kind: KIND_SUFFIX, text: spec.suffix, regex: null };
  if (spec.regex !== undefined) return { kind: KIND_REGEX, text: spec.regex, regex };
  return { kind: KIND_ANY, text: '', regex: null };
}

function lowerHeader(h: HeaderMatch, path: Path, problems: RouteProblem[]): CompiledHeaderMatch {
  const extra = h.present === undefined ? 0 : 1;
  const v = lowerValue(h, extra, 'exact, prefix, suffix, regex, present', path, problems);
  // A header matcher with no test at all means "present", as in Envoy.
  const present = h.present ?? (v.kind === KIND_ANY ? true : undefined);
  return new CompiledHeaderMatch(h.name.toLowerCase(), v.kind, v.text, v.regex, present, h.invert);
}

function lowerQuery(q: QueryMatch, path: Path, problems: RouteProblem[]): CompiledQueryMatch {
  const extra = q.present === undefined ? 0 : 1;
  const v = lowerValue(q, extra, 'exact, prefix, regex, present', path, problems);
  const present = q.present ?? (v.kind === KIND_ANY ? true : undefined);
  return new CompiledQueryMatch(q.name, v.kind, v.text, v.regex, present);
}

function lowerMatch(m: RouteMatch, path: Path, problems: RouteProblem[]): CompiledMatch {
  let p: { kind: ValueKind; text: string; regex: RE2JS | null } = { kind: KIND_ANY, text: '', regex: null };
  if (m.path) {
    p = lowerValue(m.path, 0, 'exact, prefix, regex', [...path, 'path'], problems);
    if (p.kind === KIND_ANY)
      problems.push({ path: [...path, 'path'], message: 'give one of exact, prefix, regex' });
  }
  return {
    pathKind: p.kind,
    pathText: p.text,
    pathRegex: p.regex,
    methods: m.methods && m.methods.length > 0 ? m.methods : null,
    headers: m.headers.map((h, i) => lowerHeader(h, [...path, 'headers', i], problems)),
    query: m.query.map((q, i) => lowerQuery(q, [...path, 'query', i], problems)),
  };
}

/** `problems` receives paths relative to the table (['virtualHosts', 0, ...]). */
export function lowerRouteTable(table: RouteTable, problems: RouteProblem[]): CompiledTable {
  const seenDomains = new Map<string, string>();
  const seenVhosts = new Set<string>();
  const domains: string[][] = [];
  const vhosts: CompiledRoute[][] = [];
  table.virtualHosts.forEach((vh, vi) => {
    const at: Path = ['virtualHosts', vi];
    if (seenVhosts.has(vh.name))
      problems.push({ path: [...at, 'name'], message: `duplicate virtual host "${vh.name}"` });
    seenVhosts.add(vh.name);
    const valid: string[] = [];
    vh.domains.forEach((d, di) => {
      const key = d.toLowerCase();
      const star = key.indexOf('*');
      if (
        star >= 0 &&
        key !== '*' &&
        (star !== key.lastIndexOf('*') || (star !== 0 && star !== key.length - 1))
      ) {
        problems.push({
          path: [...at, 'domains', di],
          message: `invalid domain "${d}": "*" may only start or end it ("*.foo.com", "foo.*") or stand alone`,
        });
        return;
      }
      const owner = seenDomains.get(key);
      if (owner !== undefined) {
        problems.push({
          path: [...at, 'domains', di],
          message: `domain "${d}" is already served by virtual host "${owner}"`,
        });
        return;
      }
      seenDomains.set(key, vh.name);
      valid.push(key);
    });
    domains.push(valid);
    vhosts.push(
      vh.routes.map((r, ri): CompiledRoute => {
        const rp: Path = [...at, 'routes', ri, 'match'];
        const list = r.match === undefined ? [] : Array.isArray(r.match) ? r.match : [r.match];
        const matches = Array.isArray(r.match)
          ? list.map((m, mi) => lowerMatch(m, [...rp, mi], problems))
          : list.map((m) => lowerMatch(m, rp, problems));
        // Regexes, gRPC status names, header names and values of the route's policies.
        for (const p of routePolicyProblems(r))
          problems.push({ path: [...at, 'routes', ri, ...p.path], message: p.message });
        // An empty list matches everything, as an absent field (Istio's proto semantics).
        return { matches, result: new CompiledRouteResult(r, vh.name, ri) };
      }),
    );
  });
  return { domains, vhosts };
}
