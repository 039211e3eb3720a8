// Header and URL changes of a route (Istio's Headers and HTTPRewrite, Envoy's
// request/response_headers_to_add/remove, prefix_rewrite, regex_rewrite, host_rewrite):
// - the request sent upstream gets the rewritten path (prefix: the part the route's match
//   matched is replaced; regex: RE2 substitution on the path, query kept), the rewritten authority
//   and the request header mutation; the client's own ProxyRequest is left as it came (a copy
//   goes upstream), so the downstream side still sees what the client asked;
// - the response head gets the response header mutation before it reaches the client.
// Everything is compiled per route; a request costs one request copy and one header list.
import type { RequestLayerFactory } from '../proxy/route-runtime.ts';
import type {
  Dispatch,
  HeaderList,
  Layer,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { ForwardingHandler } from './forwarding-handler.ts';
import { HeaderMutator } from './header-mutation.ts';
import { MatchedPrefix } from './matched-prefix.ts';
import { compileRegexRewrite, type RegexRewrite } from './regex-rewrite.ts';

class MutatedResponse extends ForwardingHandler {
  private readonly mutator: HeaderMutator;

  constructor(next: ResponseHandler, mutator: HeaderMutator) {
    super(next);
    this.mutator = mutator;
  }

  override onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.next.onResponseStart(status, this.mutator.apply(headers), controller);
  }
}

/** The path, authority and header changes of the request, prepared once per route. */
class RequestChanges {
  private readonly prefix: string | undefined;
  private readonly matched: MatchedPrefix | undefined;
  private readonly regex: RegexRewrite | undefined;
  private readonly authority: string | undefined;
  private readonly headers: HeaderMutator | undefined;

  constructor(
    prefix: string | undefined,
    matched: MatchedPrefix | undefined,
    regex: RegexRewrite | undefined,
    authority: string | undefined,
    headers: HeaderMutator | undefined,
  ) {
    this.prefix = prefix;
    this.matched = matched;
    this.regex = regex;
    this.authority = authority;
    this.headers = headers;
  }

  apply(req: ProxyRequest): ProxyRequest {
    let path = req.path;
    if (this.prefix !== undefined && this.matched !== undefined)
      path = this.matched.replace(path, this.prefix);
    else if (this.regex !== undefined) path = this.regex.apply(path);
    // The origin-form target must start with "/" (a prefix rewritten to "" leaves "" or "?q").
    if (path.charCodeAt(0) !== 47 /* '/' */ && path !== '*') path = '/' + path;
    return {
      ...req,
      path,
      authority: this.authority ?? req.authority,
      headers: this.headers === undefined ? req.headers : this.headers.apply(req.headers),
    };
  }
}

export const headersLayer: RequestLayerFactory = (route) => {
  const c = route.config;
  const rewrite = c.rewrite;
  const reqMutator = c.requestHeaders === undefined ? undefined : new HeaderMutator(c.requestHeaders);
  const resMutator = c.responseHeaders === undefined ? undefined : new HeaderMutator(c.responseHeaders);
  const prefix = rewrite?.prefix;
  let regex: RegexRewrite | undefined;
  if (prefix === undefined && rewrite?.regex !== undefined) {
    const compiled = compileRegexRewrite(rewrite.regex.pattern, rewrite.regex.substitution);
    // A bad pattern is refused when the route table is validated; if one slips by, no rewrite.
    if (compiled.ok) regex = compiled.rewrite;
  }
  // rewrite.authority wins over a `host` header set.
  const authority = rewrite?.authority ?? reqMutator?.authority;
  const requestHeaders = reqMutator === undefined || reqMutator.empty ? undefined : reqMutator;
  const changesRequest =
    prefix !== undefined || regex !== undefined || authority !== undefined || requestHeaders !== undefined;
  const response = resMutator === undefined || resMutator.empty ? undefined : resMutator;
  if (!changesRequest && response === undefined) return undefined;
  const changes = changesRequest
    ? new RequestChanges(
        prefix,
        prefix === undefined ? undefined : new MatchedPrefix(route),
        regex,
        authority,
        requestHeaders,
      )
    : undefined;
  const layer: Layer =
    (next: Dispatch): Dispatch =>
    (req, body, handler) =>
      next(
        changes === undefined ? req : changes.apply(req),
        body,
        response === undefined ? handler : new MutatedResponse(handler, response),
      );
  return layer;
};
