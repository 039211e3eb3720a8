// HTTPRoute and GRPCRoute rules → native routes, one per match, each with a precedence rank: the
// Gateway API orders matches across all routes of a parent by specificity, not by position.
import type { HeaderMatch, QueryMatch, RouteMatch } from '../../model/schema.ts';
import type { ServiceId } from '../../resources/catalog.ts';
import { serviceRef } from '../common/hosts.ts';
import type { LowerContext, RouteInput } from '../common/lowering.ts';
import { routeName } from '../common/names.ts';
import { quoteRe2 } from '../common/regex.ts';
import { backendService, headerMutation, type Warn } from './refs.ts';
import type {
  GatewayHeaderMatch,
  GRPCRouteFilter,
  GRPCRouteRule,
  HTTPRouteFilter,
  HTTPRouteMatch,
  HTTPRouteRule,
} from './schema.ts';

type MatchInput = Partial<RouteMatch>;

export interface Entry {
  /** Compared element by element, smallest first (more specific first). */
  rank: number[];
  route: RouteInput;
}

interface RulePart {
  route: Omit<RouteInput, 'match'>;
  /** A ReplacePrefixMatch of a rewrite or redirect: depends on which prefix matched. */
  prefixReplace?: { kind: 'rewrite' | 'redirect'; value: string };
}

/** Header (or query) tests; of two with one name, only the first counts (the spec's rule). */
function valueTests<T extends { name: string }>(
  list: readonly GatewayHeaderMatch[] | undefined,
  make: (m: GatewayHeaderMatch) => T,
  caseless: boolean,
): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const m of list ?? []) {
    const key = caseless ? m.name.toLowerCase() : m.name;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(make(m));
  }
  return out;
}

const header = (m: GatewayHeaderMatch): HeaderMatch => ({
  name: m.name.toLowerCase(),
  ...(m.type === 'Exact' ? { exact: m.value } : { regex: m.value }),
  invert: false,
});
const query = (m: GatewayHeaderMatch): QueryMatch => ({
  name: m.name,
  ...(m.type === 'Exact' ? { exact: m.value } : { regex: m.value }),
});

function filterPolicies(
  filters: readonly (HTTPRouteFilter | GRPCRouteFilter)[],
  path: string,
  namespace: string,
  ctx: LowerContext,
  warn: Warn,
  part: RulePart,
): void {
  const r = part.route;
  filters.forEach((f, fi) => {
    const at = `${path}.filters[${fi}]`;
    switch (f.type) {
      case 'RequestHeaderModifier':
        r.requestHeaders = headerMutation(f.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        r.responseHeaders = headerMutation(f.responseHeaderModifier);
        break;
      case 'RequestMirror': {
        const m = f.requestMirror;
        const service =
          m && backendService(m.backendRef, namespace, `${at}.requestMirror.backendRef`, ctx, warn);
        if (m === undefined || service === undefined) break;
        const percent =
          m.percent ?? (m.fraction ? (100 * m.fraction.numerator) / m.fraction.denominator : 100);
        r.mirrors = [...(r.mirrors ?? []), { service, percent: Math.min(100, percent) }];
        break;
      }
      case 'RequestRedirect': {
        const rr = 'requestRedirect' in f ? f.requestRedirect : undefined;
        if (rr === undefined) break;
        const ok = [301, 302, 303, 307, 308].includes(rr.statusCode);
        if (!ok) warn(`${at}.requestRedirect.statusCode`, `status ${rr.statusCode} not supported; 302 used`);
        r.redirect = {
          ...(rr.scheme === undefined ? {} : { scheme: rr.scheme }),
          ...(rr.hostname === undefined ? {} : { host: rr.hostname }),
          ...(rr.port === undefined ? {} : { port: rr.port }),
          ...(rr.path?.type === 'ReplaceFullPath' ? { path: rr.path.replaceFullPath ?? '/' } : {}),
          status: (ok ? rr.statusCode : 302) as 301 | 302 | 303 | 307 | 308,
        };
        if (rr.path?.type === 'ReplacePrefixMatch')
          part.prefixReplace = { kind: 'redirect', value: rr.path.replacePrefixMatch ?? '/' };
        break;
      }
      case 'URLRewrite': {
        const u = 'urlRewrite' in f ? f.urlRewrite : undefined;
        if (u === undefined) break;
        r.rewrite = {
          ...(u.hostname === undefined ? {} : { authority: u.hostname }),
          ...(u.path?.type === 'ReplaceFullPath'
            ? { regex: { pattern: '^.*$', substitution: u.path.replaceFullPath ?? '/' } }
            : {}),
        };
        if (u.path?.type === 'ReplacePrefixMatch')
          part.prefixReplace = { kind: 'rewrite', value: u.path.replacePrefixMatch ?? '/' };
        break;
      }
      case 'CORS': {
        const c = 'cors' in f ? f.cors : undefined;
        if (c === undefined) break;
        r.cors = {
          // "*" is any origin; other wildcards stand for one or more characters.
          allowOrigins: (c.allowOrigins ?? []).map((o) =>
            o === '*'
              ? { prefix: '' }
              : o.includes('*')
                ? { regex: o.split('*').map(quoteRe2).join('.+') }
                : { exact: o },
          ),
          allowMethods: c.allowMethods ?? [],
          allowHeaders: c.allowHeaders ?? [],
          exposeHeaders: c.exposeHeaders ?? [],
          ...(c.maxAge === undefined ? {} : { maxAge: c.maxAge * 1000 }),
          allowCredentials: c.allowCredentials ?? false,
        };
        break;
      }
      default:
        warn(at, `filter ${f.type} is not supported; ignored`);
    }
  });
}

/** What a rule does, whatever matched: backends and policies. */
function rulePart(
  rule: HTTPRouteRule | GRPCRouteRule,
  path: string,
  namespace: string,
  parent: ServiceId,
  ctx: LowerContext,
  warn: Warn,
  grpc: boolean,
): RulePart {
  const part: RulePart = { route: { backends: [] } };
  const r = part.route;
  const name = rule.name === undefined ? undefined : routeName(rule.name);
  if (name !== undefined) r.name = name;
  filterPolicies(rule.filters ?? [], path, namespace, ctx, warn, part);
  (rule.backendRefs ?? []).forEach((b, bi) => {
    const at = `${path}.backendRefs[${bi}]`;
    if (b.filters !== undefined && b.filters.length > 0)
      warn(`${at}.filters`, 'filters per backend are not supported; ignored');
    const service = backendService(b, namespace, at, ctx, warn);
    if (service !== undefined) r.backends!.push({ service, weight: b.weight });
  });
  if (r.backends!.length === 0 && r.redirect === undefined) {
    // No (valid) backend: the spec answers 500 (gRPC: UNAVAILABLE).
    warn(path, `no valid backendRefs: requests are answered ${grpc ? 'UNAVAILABLE' : '500'}`);
    r.backends = [{ service: serviceRef(parent), weight: 1 }];
    r.fault = {
      abort: grpc ? { grpcStatus: 'UNAVAILABLE', percent: 100 } : { httpStatus: 500, percent: 100 },
    };
  }
  if (rule.sessionPersistence !== undefined) warn(`${path}.sessionPersistence`, 'not supported; ignored');
  if ('timeouts' in rule || 'retry' in rule) {
    const { timeouts, retry } = rule as HTTPRouteRule;
    if (retry !== undefined && (retry.attempts ?? 0) > 0) {
      r.retries = {
        attempts: Math.min(10, retry.attempts!),
        retryOn: [
          'connect-failure',
          'refused-stream',
          ...(retry.codes?.length ? (['retriable-status-codes'] as const) : []),
        ],
        ...(retry.codes?.length ? { retriableStatusCodes: retry.codes } : {}),
        ...(retry.backoff === undefined ? {} : { backoff: { base: retry.backoff } }),
        ...(timeouts?.backendRequest === undefined ? {} : { perTryTimeout: timeouts.backendRequest }),
      };
      if (timeouts?.request !== undefined) r.timeout = timeouts.request;
    } else {
      // Without retries one backend request is the whole request: the tighter bound applies.
      const t = timeouts?.backendRequest ?? timeouts?.request;
      if (t !== undefined) r.timeout = t;
    }
  }
  return part;
}

function pathVariants(p: HTTPRouteMatch['path']): {
  variants: MatchInput['path'][];
  kind: number;
  length: number;
} {
  const type = p?.type ?? 'PathPrefix';
  const value = p?.value ?? '/';
  if (type === 'Exact') return { variants: [{ exact: value }], kind: 0, length: value.length };
  if (type === 'RegularExpression') return { variants: [{ regex: value }], kind: 1, length: value.length };
  // A path prefix matches whole segments: "/foo" is "/foo" or "/foo/...", never "/foobar".
  const trimmed = value.replace(/\/+$/, '');
  if (trimmed === '') return { variants: [{ prefix: '/' }], kind: 2, length: 1 };
  return { variants: [{ exact: trimmed }, { prefix: `${trimmed}/` }], kind: 2, length: trimmed.length };
}

/** The replacement for a ReplacePrefixMatch, given the prefix variant that matched. */
function replaced(value: string, variant: MatchInput['path']): string {
  if (variant?.prefix === undefined || value.endsWith('/')) return value;
  return `${value}/`;
}

export function httpRuleEntries(
  rule: HTTPRouteRule,
  path: string,
  namespace: string,
  parent: ServiceId,
  ctx: LowerContext,
  warn: Warn,
): Entry[] {
  const part = rulePart(rule, path, namespace, parent, ctx, warn, false);
  const matches = rule.matches !== undefined && rule.matches.length > 0 ? rule.matches : [{}];
  return matches.flatMap((m: HTTPRouteMatch, mi): Entry[] => {
    const { variants, kind, length } = pathVariants(m.path);
    const headers = valueTests(m.headers, header, true);
    const queries = valueTests(m.queryParams, query, false);
    const rest: MatchInput = {
      ...(m.method === undefined ? {} : { methods: [m.method] }),
      ...(headers.length > 0 ? { headers } : {}),
      ...(queries.length > 0 ? { query: queries } : {}),
    };
    const rank = [kind, -length, m.method === undefined ? 1 : 0, -headers.length, -queries.length];
    const pr = part.prefixReplace;
    if (pr !== undefined && kind === 1) {
      warn(
        `${path}.matches[${mi}]`,
        'ReplacePrefixMatch needs a PathPrefix match; the path is not rewritten',
      );
    }
    if (pr === undefined || kind === 1)
      return [{ rank, route: { ...part.route, match: variants.map((v) => ({ ...rest, path: v })) } }];
    // The replacement depends on which variant matched: one route each.
    return variants.map((v) => {
      const value = replaced(pr.value, v);
      const route: RouteInput = { ...part.route, match: { ...rest, path: v } };
      if (pr.kind === 'rewrite') route.rewrite = { ...route.rewrite, prefix: value };
      else route.redirect = { ...route.redirect, prefix: value };
      return { rank, route };
    });
  });
}

export function grpcRuleEntries(
  rule: GRPCRouteRule,
  path: string,
  namespace: string,
  parent: ServiceId,
  ctx: LowerContext,
  warn: Warn,
): Entry[] {
  const part = rulePart(rule, path, namespace, parent, ctx, warn, true);
  const matches = rule.matches !== undefined && rule.matches.length > 0 ? rule.matches : [{}];
  return matches.map((m): Entry => {
    const headers = valueTests(m.headers, header, true);
    const match: MatchInput = headers.length > 0 ? { headers } : {};
    const { service, method, type } = m.method ?? {};
    // gRPC calls are POST /package.Service/Method.
    if (type === 'RegularExpression') match.path = { regex: `/${service ?? '[^/]+'}/${method ?? '[^/]+'}` };
    else if (service !== undefined && method !== undefined) match.path = { exact: `/${service}/${method}` };
    else if (service !== undefined) match.path = { prefix: `/${service}/` };
    else if (method !== undefined) match.path = { regex: `/[^/]+/${quoteRe2(method)}` };
    const rank = [-(service?.length ?? 0), -(method?.length ?? 0), -headers.length];
    return { rank, route: { ...part.route, match } };
  });
}
