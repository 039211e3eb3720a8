// One VirtualService `http` rule → one native route: matches, weighted destinations, and every
// route policy Istio names the same way the model does (timeout, retries, fault, mirror,
// headers, rewrite, redirect, CORS). What the model cannot say is warned about, never dropped quietly.
import type { HeaderMatch, QueryMatch, RouteMatch } from '../../model/schema.ts';
import type { RetryOn } from '../../model/policy.ts';
import { RetryOn as RetryOnSchema } from '../../model/policy.ts';
import type { RouteInput, Warn } from '../common/lowering.ts';
import { routeName } from '../common/names.ts';
import type { DialectResource } from '../types.ts';
import type { IstioContext } from './context.ts';
import type {
  Headers,
  HTTPMatchRequest,
  HTTPRetry,
  IstioCorsPolicy,
  IstioHTTPRoute,
  StringMatch,
} from './virtual-service-schema.ts';

type MatchInput = Partial<RouteMatch>;

/** Istio's retry policy for a route that sets none (pilot's retry.DefaultPolicy). */
export const ISTIO_DEFAULT_RETRIES = {
  attempts: 2,
  retryOn: [
    'connect-failure',
    'refused-stream',
    'unavailable',
    'cancelled',
    'retriable-status-codes',
  ] as RetryOn[],
  retriableStatusCodes: [503],
};

function valueMatch(m: StringMatch): { exact?: string; prefix?: string; regex?: string } | undefined {
  if (m.exact !== undefined) return { exact: m.exact };
  if (m.prefix !== undefined) return { prefix: m.prefix };
  if (m.regex !== undefined) return { regex: m.regex };
  return undefined;
}

function headerMatch(name: string, m: StringMatch, invert = false): HeaderMatch {
  const v = valueMatch(m);
  // `{}` tests presence (withoutHeaders: absence).
  if (v === undefined) return { name: name.toLowerCase(), present: !invert, invert: false };
  return { name: name.toLowerCase(), ...v, invert };
}

/** One match block, or undefined when it can never apply to a sidecar's outbound traffic. */
export function lowerMatch(m: HTTPMatchRequest, path: string, warn: Warn): MatchInput | undefined {
  if (m.sourceLabels !== undefined || m.sourceNamespace !== undefined) {
    warn(
      path,
      'sourceLabels/sourceNamespace select callers, which one route table per service cannot tell apart: this match is dropped',
    );
    return undefined;
  }
  if (m.gateways !== undefined && !m.gateways.includes('mesh')) {
    warn(`${path}.gateways`, 'matches only at gateways, not in the mesh: this match is dropped');
    return undefined;
  }
  if (m.scheme !== undefined && m.scheme.exact !== 'http') {
    warn(
      `${path}.scheme`,
      'sidecar traffic arrives as plain http: a scheme other than exact "http" never matches; dropped',
    );
    return undefined;
  }
  if (m.ignoreUriCase === true)
    warn(`${path}.ignoreUriCase`, 'not supported: the uri is matched case-sensitively');
  const out: MatchInput = {};
  const headers: HeaderMatch[] = [];
  if (m.uri !== undefined) {
    const v = valueMatch(m.uri);
    if (v !== undefined) out.path = v;
  }
  if (m.method !== undefined) {
    if (m.method.exact !== undefined) out.methods = [m.method.exact];
    else headers.push(headerMatch(':method', m.method));
  }
  if (m.authority !== undefined) headers.push(headerMatch(':authority', m.authority));
  // The port the caller named: only as the request authority carries it ("reviews:9080").
  if (m.port !== undefined) headers.push({ name: ':authority', suffix: `:${m.port}`, invert: false });
  for (const [name, v] of Object.entries(m.headers ?? {})) headers.push(headerMatch(name, v));
  for (const [name, v] of Object.entries(m.withoutHeaders ?? {})) headers.push(headerMatch(name, v, true));
  if (headers.length > 0) out.headers = headers;
  const query: QueryMatch[] = [];
  for (const [name, v] of Object.entries(m.queryParams ?? {})) {
    const value = valueMatch(v);
    query.push(value === undefined ? { name, present: true } : { name, ...value });
  }
  if (query.length > 0) out.query = query;
  return out;
}

/** Istio's comma list: Envoy conditions by name, HTTP statuses as numbers. */
export function lowerRetries(r: HTTPRetry | undefined, path: string, warn: Warn): RouteInput['retries'] {
  if (r === undefined) return { ...ISTIO_DEFAULT_RETRIES, retryOn: [...ISTIO_DEFAULT_RETRIES.retryOn] };
  if (r.retryRemoteLocalities !== undefined) warn(`${path}.retryRemoteLocalities`, 'not supported; ignored');
  if (r.retryIgnorePreviousHosts !== undefined)
    warn(
      `${path}.retryIgnorePreviousHosts`,
      'not configurable: retries pick another endpoint when there is one',
    );
  if (r.attempts === undefined || r.attempts === 0) {
    if (r.perTryTimeout !== undefined || r.retryOn !== undefined)
      warn(`${path}.attempts`, 'attempts is 0 or absent: retries are disabled (as in Istio)');
    return undefined;
  }
  let attempts = r.attempts;
  if (attempts > 10) {
    warn(`${path}.attempts`, `at most 10 retries; ${attempts} lowered to 10`);
    attempts = 10;
  }
  const retryOn: RetryOn[] = [];
  const codes: number[] = [];
  if (r.retryOn === undefined) {
    retryOn.push(...ISTIO_DEFAULT_RETRIES.retryOn);
    codes.push(...ISTIO_DEFAULT_RETRIES.retriableStatusCodes);
  }
  for (const raw of (r.retryOn ?? '').split(',')) {
    const cond = raw.trim();
    if (cond === '') continue;
    if (/^\d{3}$/.test(cond) && Number(cond) >= 100 && Number(cond) <= 599) {
      codes.push(Number(cond));
      if (!retryOn.includes('retriable-status-codes')) retryOn.push('retriable-status-codes');
      continue;
    }
    const known = RetryOnSchema.safeParse(cond);
    if (known.success) {
      if (!retryOn.includes(known.data)) retryOn.push(known.data);
    } else warn(`${path}.retryOn`, `retry condition "${cond}" is not supported; ignored`);
  }
  return {
    attempts,
    ...(r.perTryTimeout === undefined ? {} : { perTryTimeout: r.perTryTimeout }),
    retryOn,
    ...(codes.length === 0 ? {} : { retriableStatusCodes: codes }),
    ...(r.backoff === undefined ? {} : { backoff: { base: r.backoff } }),
  };
}

export function lowerHeaders(h: Headers | undefined): Pick<RouteInput, 'requestHeaders' | 'responseHeaders'> {
  const ops = (o: NonNullable<Headers['request']> | undefined): RouteInput['requestHeaders'] =>
    o === undefined ? undefined : { set: o.set ?? {}, add: o.add ?? {}, remove: o.remove ?? [] };
  const out: Pick<RouteInput, 'requestHeaders' | 'responseHeaders'> = {};
  if (h?.request !== undefined) out.requestHeaders = ops(h.request);
  if (h?.response !== undefined) out.responseHeaders = ops(h.response);
  return out;
}

function lowerCors(c: IstioCorsPolicy, path: string, warn: Warn): RouteInput['cors'] {
  if (c.unmatchedPreflights !== undefined) warn(`${path}.unmatchedPreflights`, 'not supported; ignored');
  const origins = [
    ...(c.allowOrigins ?? []).map((o) => valueMatch(o) ?? { prefix: '' }),
    // Deprecated exact origins; "*" allowed any.
    ...(c.allowOrigin ?? []).map((o) => (o === '*' ? { prefix: '' } : { exact: o })),
  ];
  return {
    allowOrigins: origins,
    allowMethods: c.allowMethods ?? [],
    allowHeaders: c.allowHeaders ?? [],
    exposeHeaders: c.exposeHeaders ?? [],
    ...(c.maxAge === undefined ? {} : { maxAge: c.maxAge }),
    allowCredentials: c.allowCredentials ?? false,
  };
}

/** The route's policies (everything but matches and destinations). */
export function lowerRoutePolicies(
  r: IstioHTTPRoute,
  path: string,
  vs: DialectResource,
  ctx: IstioContext,
  warn: Warn,
): Omit<RouteInput, 'match' | 'backends'> {
  const out: Omit<RouteInput, 'match' | 'backends'> = {};
  const name = r.name === undefined ? undefined : routeName(r.name);
  if (name !== undefined) out.name = name;
  if (r.timeout !== undefined) out.timeout = r.timeout;
  // Istio: "timeouts or retries will not be enabled when faults are enabled", so no default retries.
  const retries =
    r.fault !== undefined && r.retries === undefined
      ? undefined
      : lowerRetries(r.retries, `${path}.retries`, warn);
  if (retries !== undefined) out.retries = retries;
  if (r.fault !== undefined) {
    const fault: NonNullable<RouteInput['fault']> = {};
    const { delay, abort } = r.fault;
    if (delay?.exponentialDelay !== undefined)
      warn(`${path}.fault.delay.exponentialDelay`, 'not supported; ignored');
    if (delay?.fixedDelay !== undefined)
      fault.delay = { fixed: delay.fixedDelay, percent: delay.percentage?.value ?? delay.percent ?? 100 };
    if (abort?.http2Error !== undefined) warn(`${path}.fault.abort.http2Error`, 'not supported; ignored');
    const percent = abort?.percentage?.value ?? abort?.percent ?? 100;
    if (abort?.httpStatus !== undefined) fault.abort = { httpStatus: abort.httpStatus, percent };
    else if (abort?.grpcStatus !== undefined) fault.abort = { grpcStatus: abort.grpcStatus, percent };
    if (fault.delay !== undefined || fault.abort !== undefined) out.fault = fault;
  }
  const mirrors: NonNullable<RouteInput['mirrors']> = [];
  if (r.mirror !== undefined) {
    const service = ctx.destination(r.mirror, vs, `${path}.mirror`);
    const percent = r.mirrorPercentage?.value ?? r.mirrorPercent ?? r.mirror_percent ?? 100;
    if (service !== undefined) mirrors.push({ service, percent });
  }
  (r.mirrors ?? []).forEach((m, i) => {
    const service = ctx.destination(m.destination, vs, `${path}.mirrors[${i}].destination`);
    if (service !== undefined) mirrors.push({ service, percent: m.percentage?.value ?? 100 });
  });
  if (mirrors.length > 0) out.mirrors = mirrors;
  Object.assign(out, lowerHeaders(r.headers));
  if (r.rewrite !== undefined) {
    const { uri, authority, uriRegexRewrite } = r.rewrite;
    out.rewrite = {
      ...(uri === undefined ? {} : { prefix: uri }),
      ...(authority === undefined ? {} : { authority }),
      ...(uriRegexRewrite === undefined
        ? {}
        : { regex: { pattern: uriRegexRewrite.match, substitution: uriRegexRewrite.rewrite } }),
    };
  }
  if (r.redirect !== undefined) {
    const { uri, authority, port, derivePort, scheme, redirectCode } = r.redirect;
    if (derivePort !== undefined) warn(`${path}.redirect.derivePort`, 'not supported; ignored');
    const status = redirectCode ?? 301;
    const okStatus = status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
    if (!okStatus) warn(`${path}.redirect.redirectCode`, `redirect code ${status} not supported; 301 used`);
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https')
      warn(`${path}.redirect.scheme`, `scheme "${scheme}" not supported; ignored`);
    out.redirect = {
      ...(scheme === 'http' || scheme === 'https' ? { scheme } : {}),
      ...(authority === undefined ? {} : { host: authority }),
      ...(port === undefined ? {} : { port }),
      ...(uri === undefined ? {} : { path: uri }),
      status: okStatus ? status : 301,
    };
  }
  if (r.corsPolicy !== undefined) out.cors = lowerCors(r.corsPolicy, `${path}.corsPolicy`, warn);
  return out;
}
