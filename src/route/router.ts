// The compiled route table: built once per config, asked once per request.
//
// Matching rules (Envoy's, which Istio and Gateway API lower into):
// 1. Virtual host, by the request authority, case-insensitively. Search order:
//      exact domain ("reviews.default", "reviews:9080")
//    > suffix wildcard ("*.foo.com", "*-bar.foo.com"), longest first
//    > prefix wildcard ("foo.*"), longest first
//    > "*".
//    Within each step the authority is tried with its port first, then without it, so
//    "reviews:9080" hits a "reviews:9080" domain before a "reviews" one. A wildcard stands for at
//    least one character ("*.foo.com" does not match "foo.com"). Domains are unique per table.
// 2. Routes of that virtual host in order; the first whose match fits wins. A route's `match` is
//    one RouteMatch or a list (any of them); no match (or an empty list) matches every request.
// 3. Within one RouteMatch every condition must hold:
//    - path, without the query string: exact, prefix (plain string prefix) or regex (full match);
//    - methods: the method is one of them (case-sensitive);
//    - headers: exact/prefix/suffix/regex on the first value, present: true/false, invert (Envoy's
//      invert_match: a missing header never satisfies an inverted value test). The names
//      ":authority"/"host", ":method" and ":path" read the request line;
//    - query: exact/prefix/regex/present on the form-decoded value of the first occurrence.
// Every regex is RE2 (re2js, linear time, full match); user patterns never reach JS RegExp.
// match() allocates nothing except the parsed query string, and only for routes that test it.
import type { RouteTable } from '../model/schema.ts';
import { lowerRouteTable, RouteCompileError, type CompiledRoute } from './compile.ts';
import { DomainIndex } from './domains.ts';
import { KIND_ANY, KIND_EXACT, KIND_PREFIX, matchHeader, matchQuery, parseQuery } from './matchers.ts';
import type { MatchedRoute, RouteInput, RouteProblem, Router } from './types.ts';

export type { MatchedRoute, RouteInput, RouteProblem, Router } from './types.ts';
export { RouteCompileError } from './compile.ts';

const NO_QUERY: Map<string, string> = new Map();

class CompiledRouter implements Router {
  private readonly domains: DomainIndex;
  private readonly vhosts: readonly (readonly CompiledRoute[])[];
  readonly routes: readonly MatchedRoute[];

  constructor(domains: DomainIndex, vhosts: CompiledRoute[][]) {
    this.domains = domains;
    this.vhosts = vhosts;
    this.routes = vhosts.flatMap((routes) => routes.map((r) => r.result));
  }

  match(input: RouteInput): MatchedRoute | undefined {
    const routes = this.vhosts[this.domains.lookup(input.authority)];
    if (routes === undefined) return undefined;
    const path = input.path;
    const queryAt = path.indexOf('?');
    const pathEnd = queryAt < 0 ? path.length : queryAt;
    // Built on first use only, then shared by the remaining routes of this request.
    let pathOnly: string | undefined;
    let query: Map<string, string> | undefined;

    for (let ri = 0; ri < routes.length; ri++) {
      const route = routes[ri]!;
      const matches = route.matches;
      if (matches.length === 0) return route.result;
      candidates: for (let mi = 0; mi < matches.length; mi++) {
        const m = matches[mi]!;
        switch (m.pathKind) {
          case KIND_ANY:
            break;
          case KIND_EXACT:
            if (pathEnd !== m.pathText.length || !path.startsWith(m.pathText)) continue candidates;
            break;
          case KIND_PREFIX:
            if (pathEnd < m.pathText.length || !path.startsWith(m.pathText)) continue candidates;
            break;
          default:
            pathOnly ??= queryAt < 0 ? path : path.slice(0, queryAt);
            if (m.pathRegex === null || !m.pathRegex.testExact(pathOnly)) continue candidates;
        }
        if (m.methods !== null && !m.methods.includes(input.method)) continue candidates;
        const headers = m.headers;
        for (let hi = 0; hi < headers.length; hi++) {
          if (!matchHeader(headers[hi]!, input.headers, input.authority, input.method, path))
            continue candidates;
        }
        const params = m.query;
        if (params.length > 0) {
          query ??= queryAt < 0 ? NO_QUERY : parseQuery(path.slice(queryAt + 1));
          for (let qi = 0; qi < params.length; qi++) if (!matchQuery(params[qi]!, query)) continue candidates;
        }
        return route.result;
      }
    }
    return undefined;
  }
}

/** Compiles a route table once per config; throws RouteCompileError (TRELLIS_ROUTE_INVALID). */
export function compileRouteTable(table: RouteTable): Router {
  const problems: RouteProblem[] = [];
  const compiled = lowerRouteTable(table, problems);
  if (problems.length > 0) throw new RouteCompileError(table.name, problems);
  return new CompiledRouter(new DomainIndex(compiled.domains), compiled.vhosts);
}

/** Every problem compileRouteTable would throw for, with paths from the config root. */
export function validateRouteTables(tables: RouteTable[]): RouteProblem[] {
  const all: RouteProblem[] = [];
  tables.forEach((table, ti) => {
    const problems: RouteProblem[] = [];
    lowerRouteTable(table, problems);
    for (const p of problems) all.push({ path: ['routeTables', ti, ...p.path], message: p.message });
  });
  return all;
}
