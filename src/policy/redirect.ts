// Redirects answered at the proxy (Istio's HTTPRedirect, Envoy's RedirectAction): the route never
// calls upstream. The Location is built as Envoy builds it:
// - scheme: the configured one, else the request's;
// - host: the configured host (the request's port is dropped with it), else the request's host,
//   whose port is dropped when a port is configured, or when the scheme changes and the port was
//   the old scheme's default (http://a:80 → https://a);
// - port: the configured one, appended as given (even a scheme's default);
// - path: `path` replaces the whole path (the request's query is kept unless `path` has its own),
//   `prefix` replaces the part the route's prefix match matched; neither keeps the path.
import type { RedirectPolicy } from '../model/policy.ts';
import type { RequestLayerFactory } from '../proxy/route-runtime.ts';
import type { Cancel, Dispatch, Layer, ProxyRequest } from '../proxy/types.ts';
import { replyEmpty } from './local-reply.ts';
import { MatchedPrefix } from './matched-prefix.ts';

const noop: Cancel = () => {};

export class RedirectTarget {
  private readonly scheme: string | undefined;
  private readonly host: string | undefined;
  private readonly port: string;
  private readonly path: string | undefined;
  private readonly pathHasQuery: boolean;
  private readonly prefix: string | undefined;
  private readonly matched: MatchedPrefix | undefined;

  constructor(policy: RedirectPolicy, matched: MatchedPrefix | undefined) {
    this.scheme = policy.scheme;
    this.host = policy.host;
    this.port = policy.port === undefined ? '' : `:${policy.port}`;
    this.path = policy.path === undefined ? undefined : withSlash(policy.path);
    this.pathHasQuery = policy.path?.includes('?') ?? false;
    this.prefix = policy.path === undefined ? policy.prefix : undefined;
    this.matched = matched;
  }

  location(req: ProxyRequest): string {
    const scheme = this.scheme ?? req.scheme;
    const host = this.host ?? requestHost(req.authority, req.scheme, scheme, this.port !== '');
    return `${scheme}://${host}${this.port}${this.newPath(req.path)}`;
  }

  private newPath(path: string): string {
    if (this.path !== undefined) {
      if (this.pathHasQuery) return this.path;
      const q = path.indexOf('?');
      return q < 0 ? this.path : this.path + path.slice(q);
    }
    if (this.prefix !== undefined && this.matched !== undefined)
      return withSlash(this.matched.replace(path, this.prefix));
    return withSlash(path);
  }
}

/** The request's host[:port], its port dropped as Envoy's processRequestHost drops it. */
export function requestHost(
  authority: string,
  oldScheme: string,
  newScheme: string,
  portConfigured: boolean,
): string {
  const colon = portStart(authority);
  if (colon < 0) return authority;
  const port = authority.slice(colon + 1);
  const drop =
    portConfigured ||
    (newScheme !== oldScheme &&
      ((oldScheme === 'https' && port === '443') || (oldScheme === 'http' && port === '80')));
  return drop ? authority.slice(0, colon) : authority;
}

/** Index of the ':' before the port of host[:port] or [v6]:port; -1 without a port. */
function portStart(authority: string): number {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    return close >= 0 && authority.charCodeAt(close + 1) === 58 /* ':' */ ? close + 1 : -1;
  }
  return authority.lastIndexOf(':');
}

function withSlash(path: string): string {
  return path.startsWith('/') ? path : `/${path}`;
}

export const redirectLayer: RequestLayerFactory = (route) => {
  const policy = route.config.redirect;
  if (policy === undefined) return undefined;
  const target = new RedirectTarget(
    policy,
    policy.prefix !== undefined && policy.path === undefined ? new MatchedPrefix(route) : undefined,
  );
  const status = policy.status;
  // The route answers every request itself: `next` (the backends) is never called.
  const layer: Layer = (_next: Dispatch): Dispatch => {
    return (req, _body, handler) => {
      replyEmpty(handler, status, ['location', target.location(req), 'content-length', '0']);
      return noop;
    };
  };
  return layer;
};
