// What an inbound listener checks before the app sees a request, in Istio's order: the caller's
// mTLS identity is stated to the app (x-forwarded-client-cert, set by us alone), a JWT if any is
// verified (401 when present and invalid), then AuthorizationPolicy decides (403 "RBAC: access
// denied"). A TCP connection gets the same authorization with its L4 attributes, at accept.
import type net from 'node:net';
import type { RequestAttributes } from '../authz/attributes.ts';
import { compileAuthorization, type Authorizer } from '../authz/engine.ts';
import { compileJwtRules, type RequestAuthenticator } from '../authn/jwt.ts';
import { AccessDeniedError, JwtRejectedError, type ProxyError } from '../errors.ts';
import type { InboundSecurity } from '../model/security.ts';
import type { ConnectionSource } from '../tls/peer-identity.ts';
import type { Cancel, HeaderList, Layer, ProxyRequest, ResponseHandler } from './types.ts';

export interface CompiledInboundSecurity {
  authorizer: Authorizer;
  authenticator: RequestAuthenticator;
  destinationPort: number | undefined;
}

export function compileInboundSecurity(s: InboundSecurity): CompiledInboundSecurity {
  return {
    authorizer: compileAuthorization(s.authorization),
    authenticator: compileJwtRules(s.jwtRules),
    destinationPort: s.destinationPort,
  };
}

const XFCC = 'x-forwarded-client-cert';

/** Told of each request a layer refuses, before it is answered (metrics: see edge-metrics.ts). */
export type DenialSink = (req: ProxyRequest, err: ProxyError, reason: 'rbac' | 'jwt') => void;
const noop: Cancel = () => {};

/** A verified JWT travels with its request to the authorization layer. */
const kRequestAuth = Symbol('trellis.requestAuth');
interface WithAuth {
  [kRequestAuth]?: { principal: string; claims: Record<string, unknown> };
}

/** Envoy's SANITIZE_SET on inbound: a caller's own XFCC is dropped; ours names the mTLS peer. */
export function clientCertLayer(ownId: string | undefined): Layer {
  return (next) => (req, body, handler) => {
    const headers = req.headers.includes(XFCC) ? without(req.headers, [XFCC]) : req.headers;
    const id = req.source.identity;
    if (id === undefined) return next(headers === req.headers ? req : { ...req, headers }, body, handler);
    const value = ownId === undefined ? `URI=${id}` : `By=${ownId};URI=${id}`;
    return next({ ...req, headers: [...headers, XFCC, value] }, body, handler);
  };
}

export function jwtLayer(auth: RequestAuthenticator, onDenied?: DenialSink): Layer | undefined {
  if (auth.empty) return undefined;
  return (next) => (req, body, handler) => {
    // CORS preflights carry no credentials (Istio bypasses them too).
    if (req.method === 'OPTIONS' && hasHeader(req.headers, 'access-control-request-method'))
      return next(req, body, handler);
    let cancelled = false;
    let inner: Cancel = noop;
    auth.authenticate(req.headers, req.path).then(
      (outcome) => {
        if (cancelled) return;
        if (outcome.kind === 'invalid') return deny(req, handler, JwtRejectedError(outcome.reason));
        if (outcome.kind === 'none') return void (inner = next(req, body, handler));
        const headers = [...without(req.headers, outcome.removeHeaders), ...outcome.addHeaders];
        const path =
          outcome.removeParams.length > 0 ? withoutParams(req.path, outcome.removeParams) : req.path;
        const authed: ProxyRequest & WithAuth = { ...req, headers, path };
        authed[kRequestAuth] = { principal: outcome.principal, claims: outcome.claims };
        inner = next(authed, body, handler);
      },
      (err: unknown) => {
        if (!cancelled) deny(req, handler, JwtRejectedError(`Jwt verification fails: ${String(err)}`));
      },
    );
    return (reason) => {
      cancelled = true;
      inner(reason);
    };
  };

  function deny(req: ProxyRequest, handler: ResponseHandler, err: ProxyError): void {
    onDenied?.(req, err, 'jwt');
    handler.onResponseError(err);
  }
}

export function authzLayer(
  authorizer: Authorizer,
  destPort: number,
  onDenied?: DenialSink,
): Layer | undefined {
  if (authorizer.empty) return undefined;
  return (next) => (req, body, handler) => {
    const attrs: RequestAttributes = {
      source: sourceAttrs(req.source),
      destination: { port: destPort },
      http: { method: req.method, authority: req.authority, path: req.path, headers: req.headers },
    };
    const auth = (req as WithAuth)[kRequestAuth];
    if (auth !== undefined) attrs.auth = auth;
    if (!authorizer.check(attrs).allowed) {
      const err = AccessDeniedError();
      onDenied?.(req, err, 'rbac');
      handler.onResponseError(err);
      return noop;
    }
    return next(req, body, handler);
  };
}

/** A TCP connection's authorization: true when it may go on to the app. */
export function authorizeConnection(
  sec: CompiledInboundSecurity | undefined,
  socket: net.Socket,
  source: ConnectionSource,
): boolean {
  if (sec === undefined || sec.authorizer.empty) return true;
  return sec.authorizer.check({
    source: sourceAttrs(source),
    destination: { port: sec.destinationPort ?? socket.localPort ?? 0 },
  }).allowed;
}

function sourceAttrs(s: ConnectionSource): RequestAttributes['source'] {
  return s.identity === undefined
    ? { address: s.address, port: s.port }
    : { address: s.address, port: s.port, principal: s.identity };
}

function hasHeader(headers: HeaderList, name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

function without(headers: HeaderList, names: readonly string[]): HeaderList {
  const out: HeaderList = [];
  for (let i = 0; i < headers.length; i += 2)
    if (!names.includes(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  return out;
}

function withoutParams(path: string, names: readonly string[]): string {
  const q = path.indexOf('?');
  if (q < 0) return path;
  const params = new URLSearchParams(path.slice(q + 1));
  for (const n of names) params.delete(n);
  const rest = params.toString();
  return rest === '' ? path.slice(0, q) : `${path.slice(0, q)}?${rest}`;
}
