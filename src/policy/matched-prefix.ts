// Which part of a request path the route's match took: the part a prefix rewrite or a prefix
// redirect replaces (Istio's HTTPRewrite.uri, Envoy's prefix_rewrite). The route may list several
// matches; the first whose path condition fits the path is taken as the one the router used (a
// match that also tested headers or methods could, in theory, have lost to a later one; the path
// condition alone decides here). A prefix match yields its prefix; an exact, regex or path-less
// match yields the whole path, which is then replaced whole, as Istio does.
import type { RE2JS } from 're2js';
import { re2 } from '../route/re2.ts';
import type { MatchedRoute } from '../route/index.ts';

const PREFIX = 0;
const EXACT = 1;
const REGEX = 2;
const ANY = 3;

interface PathCondition {
  kind: 0 | 1 | 2 | 3;
  text: string;
  regex: RE2JS | null;
}

export class MatchedPrefix {
  private readonly conditions: PathCondition[];

  constructor(route: MatchedRoute) {
    const m = route.config.match;
    const list = m === undefined ? [] : Array.isArray(m) ? m : [m];
    this.conditions = list.map((match): PathCondition => {
      const p = match.path;
      if (p?.prefix !== undefined) return { kind: PREFIX, text: p.prefix, regex: null };
      if (p?.exact !== undefined) return { kind: EXACT, text: p.exact, regex: null };
      if (p?.regex !== undefined) return { kind: REGEX, text: p.regex, regex: compileOrNull(p.regex) };
      return { kind: ANY, text: '', regex: null };
    });
  }

  /** Length of the matched prefix of `path` (which ends at `pathEnd`, before any query); -1: the whole path. */
  length(path: string, pathEnd: number): number {
    const conditions = this.conditions;
    for (let i = 0; i < conditions.length; i++) {
      const c = conditions[i]!;
      switch (c.kind) {
        case PREFIX:
          if (pathEnd >= c.text.length && path.startsWith(c.text)) return c.text.length;
          break;
        case EXACT:
          if (pathEnd === c.text.length && path.startsWith(c.text)) return -1;
          break;
        case REGEX:
          if (c.regex !== null && c.regex.testExact(pathEnd === path.length ? path : path.slice(0, pathEnd)))
            return -1;
          break;
        default:
          return -1;
      }
    }
    return -1;
  }

  /** `path` with its matched part replaced by `replacement`; the query string is kept. */
  replace(path: string, replacement: string): string {
    const q = path.indexOf('?');
    const pathEnd = q < 0 ? path.length : q;
    const n = this.length(path, pathEnd);
    return replacement + path.slice(n < 0 ? pathEnd : n);
  }
}

function compileOrNull(pattern: string): RE2JS | null {
  try {
    return re2().compile(pattern);
  } catch {
    return null; // reported when the route table was validated
  }
}
