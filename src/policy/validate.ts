// What a route's policies can get wrong beyond the schema, found when the route table is compiled
// (src/route/compile.ts collects these with the matcher problems, so a config file reports them
// with file:line:column and a pushed snapshot is refused): RE2 patterns and substitutions, gRPC
// status names, and every configured string that ends up in a request line or a header (a CR/LF
// there would let config inject headers; a space would break the request line).
import { re2 } from '../route/re2.ts';
import type { HeaderMutation } from '../model/policy.ts';
import type { Route } from '../model/schema.ts';
import type { RouteProblem } from '../route/types.ts';
import { isAuthorityHeader, isProtectedHeader } from './header-mutation.ts';
import { parseGrpcStatus } from './local-reply.ts';
import { compileRegexRewrite } from './regex-rewrite.ts';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** Header field values: visible characters, spaces, tabs, obs-text; nothing that breaks a line. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Paths and authorities: visible ASCII only (no spaces, no controls). */
const VISIBLE = /^[\x21-\x7e]*$/;

type Path = (string | number)[];

function checkMutation(
  m: HeaderMutation | undefined,
  at: Path,
  side: 'request' | 'response',
  out: RouteProblem[],
): void {
  if (m === undefined) return;
  const names: [string, Path][] = [
    ...m.remove.map((n, i): [string, Path] => [n, [...at, 'remove', i]]),
    ...Object.keys(m.set).map((n): [string, Path] => [n, [...at, 'set', n]]),
    ...Object.keys(m.add).map((n): [string, Path] => [n, [...at, 'add', n]]),
  ];
  for (const [raw, path] of names) {
    const name = raw.toLowerCase();
    if (side === 'request' && isAuthorityHeader(name)) continue;
    if (!TOKEN.test(name) || isProtectedHeader(name) || isAuthorityHeader(name))
      out.push({ path, message: `header "${raw}" cannot be changed by a ${side} header mutation` });
  }
  for (const kind of ['set', 'add'] as const) {
    for (const [name, value] of Object.entries(m[kind])) {
      const authority = side === 'request' && isAuthorityHeader(name.toLowerCase());
      if (!(authority ? VISIBLE : FIELD_VALUE).test(value))
        out.push({
          path: [...at, kind, name],
          message: `invalid value ${JSON.stringify(value)} for header "${name}"`,
        });
    }
  }
}

function checkVisible(value: string | undefined, path: Path, what: string, out: RouteProblem[]): void {
  if (value !== undefined && !VISIBLE.test(value))
    out.push({ path, message: `invalid ${what} ${JSON.stringify(value)}: no spaces or control characters` });
}

/** Every policy problem of one route, with paths relative to the route. */
export function routePolicyProblems(route: Route): RouteProblem[] {
  const out: RouteProblem[] = [];
  const rw = route.rewrite;
  if (rw !== undefined) {
    if (rw.prefix !== undefined && rw.regex !== undefined)
      out.push({ path: ['rewrite'], message: 'give at most one of prefix, regex' });
    checkVisible(rw.prefix, ['rewrite', 'prefix'], 'path prefix', out);
    checkVisible(rw.authority, ['rewrite', 'authority'], 'authority', out);
    if (rw.authority === '')
      out.push({ path: ['rewrite', 'authority'], message: 'authority cannot be empty' });
    if (rw.regex !== undefined) {
      const r = compileRegexRewrite(rw.regex.pattern, rw.regex.substitution);
      if (!r.ok) out.push({ path: ['rewrite', 'regex', r.field], message: r.message });
      checkVisible(rw.regex.substitution, ['rewrite', 'regex', 'substitution'], 'substitution', out);
    }
  }
  const rd = route.redirect;
  if (rd !== undefined) {
    if (rd.path !== undefined && rd.prefix !== undefined)
      out.push({ path: ['redirect'], message: 'give at most one of path, prefix' });
    checkVisible(rd.host, ['redirect', 'host'], 'host', out);
    checkVisible(rd.path, ['redirect', 'path'], 'path', out);
    checkVisible(rd.prefix, ['redirect', 'prefix'], 'path prefix', out);
  }
  route.cors?.allowOrigins.forEach((o, i) => {
    const given = [o.exact, o.prefix, o.regex].filter((v) => v !== undefined).length;
    if (given !== 1)
      out.push({ path: ['cors', 'allowOrigins', i], message: 'give exactly one of exact, prefix, regex' });
    if (o.regex === undefined) return;
    try {
      re2().compile(o.regex);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      out.push({
        path: ['cors', 'allowOrigins', i, 'regex'],
        message: `invalid regex ${JSON.stringify(o.regex)}: ${reason}`,
      });
    }
  });
  const cors = route.cors;
  if (cors !== undefined) {
    const lists = ['allowMethods', 'allowHeaders', 'exposeHeaders'] as const;
    for (const list of lists)
      cors[list].forEach((v, i) => {
        if (!TOKEN.test(v.toLowerCase()) && v !== '*')
          out.push({ path: ['cors', list, i], message: `invalid name ${JSON.stringify(v)}` });
      });
  }
  const grpc = route.fault?.abort?.grpcStatus;
  if (grpc !== undefined && parseGrpcStatus(grpc) === undefined)
    out.push({
      path: ['fault', 'abort', 'grpcStatus'],
      message: `unknown gRPC status ${JSON.stringify(grpc)} (a name such as UNAVAILABLE, or 0-16)`,
    });
  checkMutation(route.requestHeaders, ['requestHeaders'], 'request', out);
  checkMutation(route.responseHeaders, ['responseHeaders'], 'response', out);
  return out;
}
