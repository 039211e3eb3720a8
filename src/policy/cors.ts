// CORS answered at the proxy (Istio's CorsPolicy, Envoy's cors filter):
// - a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin is
//   answered here, 204 with the allow-* headers, and never reaches upstream;
// - an actual request from an allowed origin goes upstream, and its response gets
//   Access-Control-Allow-Origin (the origin itself, so credentials work), -Allow-Credentials and
//   -Expose-Headers, replacing any the upstream sent, plus `Vary: Origin` for caches;
// - a request from any other origin (or without one) passes untouched, preflights included, as
//   Envoy forwards them: without allow headers the browser refuses the cross-origin call.
// The browser enforces methods and headers against the preflight's answer; the proxy does not.
import type { RE2JS } from 're2js';
import { re2 } from '../route/re2.ts';
import type { ProxyError } from '../errors.ts';
import type { CorsPolicy } from '../model/policy.ts';
import type { RequestLayerFactory } from '../proxy/route-runtime.ts';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  Layer,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { ForwardingHandler } from './forwarding-handler.ts';
import { replyEmpty, replyError } from './local-reply.ts';

const noop: Cancel = () => {};

/** The allowed origins of one policy: exact names, prefixes, RE2 patterns (full match). */
export class OriginMatcher {
  private readonly exact = new Set<string>();
  private readonly prefixes: string[] = [];
  private readonly regexes: RE2JS[] = [];
  private any = false;

  constructor(origins: CorsPolicy['allowOrigins']) {
    for (const o of origins) {
      if (o.exact !== undefined) {
        if (o.exact === '*') this.any = true;
        else this.exact.add(o.exact);
      } else if (o.prefix !== undefined) {
        if (o.prefix === '') this.any = true;
        else this.prefixes.push(o.prefix);
      } else if (o.regex !== undefined) {
        try {
          this.regexes.push(re2().compile(o.regex));
        } catch {
          // Refused when the route table is validated; an unusable pattern allows nothing.
        }
      }
    }
  }

  matches(origin: string): boolean {
    if (this.any || this.exact.has(origin)) return true;
    for (const p of this.prefixes) if (origin.startsWith(p)) return true;
    for (const r of this.regexes) if (r.testExact(origin)) return true;
    return false;
  }
}

function header(headers: HeaderList, name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** The response headers an allowed origin's actual request gets (origin first, filled per request). */
function actualHeaders(policy: CorsPolicy): HeaderList {
  const out: HeaderList = [];
  if (policy.allowCredentials) out.push('access-control-allow-credentials', 'true');
  if (policy.exposeHeaders.length > 0)
    out.push('access-control-expose-headers', policy.exposeHeaders.join(','));
  return out;
}

function preflightHeaders(policy: CorsPolicy): HeaderList {
  const out: HeaderList = [];
  if (policy.allowMethods.length > 0) out.push('access-control-allow-methods', policy.allowMethods.join(','));
  if (policy.allowHeaders.length > 0) out.push('access-control-allow-headers', policy.allowHeaders.join(','));
  if (policy.maxAge !== undefined)
    out.push('access-control-max-age', String(Math.floor(policy.maxAge / 1000)));
  if (policy.allowCredentials) out.push('access-control-allow-credentials', 'true');
  out.push('vary', 'origin'); // 204: no content-length (RFC 9110 §8.6)
  return out;
}

/** Names the proxy sets on an actual response; the upstream's own values are dropped. */
function isReplaced(name: string): boolean {
  return (
    name === 'access-control-allow-origin' ||
    name === 'access-control-allow-credentials' ||
    name === 'access-control-expose-headers'
  );
}

/**
 * Adds the CORS headers to the head of an allowed origin's response. An error answered before any
 * head (no endpoint, timeout) becomes a proxy answer carrying them too, as Envoy's cors filter
 * decorates local replies: the browser then shows the real status, not an opaque CORS failure.
 */
class CorsResponse extends ForwardingHandler {
  private readonly req: ProxyRequest;
  private readonly origin: string;
  private readonly extra: HeaderList;
  private started = false;

  constructor(next: ResponseHandler, req: ProxyRequest, origin: string, extra: HeaderList) {
    super(next);
    this.req = req;
    this.origin = origin;
    this.extra = extra;
  }

  override onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.started = true;
    const out: HeaderList = [];
    let varyOrigin = false;
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i]!;
      if (isReplaced(name)) continue;
      if (name === 'vary' && /(^|,)\s*(origin|\*)\s*(,|$)/i.test(headers[i + 1]!)) varyOrigin = true;
      out.push(name, headers[i + 1]!);
    }
    out.push('access-control-allow-origin', this.origin);
    for (let i = 0; i < this.extra.length; i++) out.push(this.extra[i]!);
    if (!varyOrigin) out.push('vary', 'origin');
    this.next.onResponseStart(status, out, controller);
  }

  override onResponseError(err: ProxyError): void {
    if (this.started) this.next.onResponseError(err);
    else replyError(this.req, this, err);
  }
}

export const corsLayer: RequestLayerFactory = (route) => {
  const policy = route.config.cors;
  if (policy === undefined) return undefined;
  const origins = new OriginMatcher(policy.allowOrigins);
  const preflight = preflightHeaders(policy);
  const actual = actualHeaders(policy);
  const layer: Layer = (next: Dispatch): Dispatch => {
    return (req, body, handler) => {
      const origin = header(req.headers, 'origin');
      if (origin === undefined || !origins.matches(origin)) return next(req, body, handler);
      if (req.method === 'OPTIONS' && header(req.headers, 'access-control-request-method') !== undefined) {
        replyEmpty(handler, 204, ['access-control-allow-origin', origin, ...preflight]);
        return noop;
      }
      return next(req, body, new CorsResponse(handler, req, origin, actual));
    };
  };
  return layer;
};
