// Regex path rewrite (Envoy's regex_rewrite, Istio's uriRegexRewrite): every match of an RE2
// pattern in the path (the query string is left alone) is replaced by a substitution in RE2's
// syntax, where \0 is the whole match, \1…\9 a group and \\ a backslash. The substitution is
// parsed once per config; a request costs one RE2 replaceAll.
import type { RE2JS } from 're2js';
import { re2 } from '../route/re2.ts';

export class RegexRewrite {
  private readonly regex: RE2JS;
  private readonly replacer: (...args: unknown[]) => string;

  constructor(regex: RE2JS, parts: readonly (string | number)[]) {
    this.regex = regex;
    // Called by re2js per match with (match, group1, …, groupN, offset, input).
    this.replacer = (...args: unknown[]): string => {
      let out = '';
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        if (typeof p === 'string') out += p;
        else {
          const g = args[p];
          if (typeof g === 'string') out += g;
        }
      }
      return out;
    };
  }

  /** `path` with every match in its path part replaced; the query string is kept as it was. */
  apply(path: string): string {
    const q = path.indexOf('?');
    const pathOnly = q < 0 ? path : path.slice(0, q);
    const rewritten = this.regex.matcher(pathOnly).replaceAll(this.replacer);
    return q < 0 ? rewritten : rewritten + path.slice(q);
  }
}

export type RegexRewriteResult =
  { ok: true; rewrite: RegexRewrite } | { ok: false; field: 'pattern' | 'substitution'; message: string };

/** Compiles pattern and substitution, or says which of them is wrong and why. */
export function compileRegexRewrite(pattern: string, substitution: string): RegexRewriteResult {
  let regex: RE2JS;
  try {
    regex = re2().compile(pattern);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { ok: false, field: 'pattern', message: `invalid regex ${JSON.stringify(pattern)}: ${reason}` };
  }
  const parts: (string | number)[] = [];
  let literal = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i]!;
    if (c !== '\\') {
      literal += c;
      continue;
    }
    const n = substitution[++i];
    if (n === '\\') {
      literal += '\\';
      continue;
    }
    if (n === undefined || n < '0' || n > '9') {
      const what = n === undefined ? 'a trailing \\' : `\\${n}`;
      return {
        ok: false,
        field: 'substitution',
        message: `invalid substitution ${JSON.stringify(substitution)}: ${what} (use \\0-\\9 for groups, \\\\ for a backslash)`,
      };
    }
    const group = n.charCodeAt(0) - 48;
    if (group > regex.groupCount()) {
      return {
        ok: false,
        field: 'substitution',
        message: `substitution ${JSON.stringify(substitution)} refers to group \\${group}, but the pattern has ${regex.groupCount()}`,
      };
    }
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(group);
  }
  if (literal !== '') parts.push(literal);
  return { ok: true, rewrite: new RegexRewrite(regex, parts) };
}
