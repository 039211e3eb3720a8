// The attributes of a proxy span, named by the OpenTelemetry semantic conventions for HTTP spans
// (stable): http.request.method (_OTHER for unknown methods), url.*, server.address/port from the
// authority, network.*, user_agent.original, http.response.status_code, error.type. Built only for
// sampled requests, when the exchange ends. Trellis adds the listener and, on mesh mTLS, the
// caller's SPIFFE ID (Envoy has no convention for it either; Istio reports it as source.principal).
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_NAME,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_RPC_METHOD,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from './semconv.ts';
import type { ProxyRequest } from '../proxy/types.ts';

export { ATTR_ERROR_TYPE };
export { ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_RPC_STATUS_CODE } from './semconv.ts';
export const ATTR_TRELLIS_LISTENER = 'trellis.listener';
export const ATTR_TRELLIS_SOURCE_IDENTITY = 'trellis.source.identity';

export type SpanKindName = 'server' | 'client';

const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

/** Query parameters whose values the conventions ask instrumentations to redact by default. */
const SENSITIVE_PARAMS = new Set(['awsaccesskeyid', 'signature', 'sig', 'x-goog-signature']);
const MAY_BE_SENSITIVE = /awsaccesskeyid|signature|sig=/i;

/** gRPC status names by code (rpc.status_code carries the name). */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** The span name the conventions give an HTTP span without a route template: its method. */
export function spanName(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'HTTP';
}

function redactQuery(query: string): string {
  if (!MAY_BE_SENSITIVE.test(query)) return query;
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && SENSITIVE_PARAMS.has(key.toLowerCase()) ? `${key}=REDACTED` : pair;
    })
    .join('&');
}

/** host and port of an authority (host, host:port, [v6], [v6]:port); the scheme's port by default. */
export function splitAuthority(authority: string, scheme: 'http' | 'https'): [string, number] {
  let host = authority;
  let port = scheme === 'https' ? 443 : 80;
  const colon = authority.lastIndexOf(':');
  if (colon > authority.lastIndexOf(']')) {
    const p = Number(authority.slice(colon + 1));
    if (Number.isInteger(p) && p > 0 && p < 65536) port = p;
    host = authority.slice(0, colon);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return [host, port];
}

function firstHeader(req: ProxyRequest, name: string): string | undefined {
  const h = req.headers;
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

export function requestAttributes(
  req: ProxyRequest,
  kind: SpanKindName,
  listener: string,
): Record<string, string | number> {
  const q = req.path.indexOf('?');
  const path = q < 0 ? req.path : req.path.slice(0, q);
  const query = q < 0 ? undefined : redactQuery(req.path.slice(q + 1));
  const [host, port] = splitAuthority(req.authority, req.scheme);
  const a: Record<string, string | number> = {
    [ATTR_HTTP_REQUEST_METHOD]: KNOWN_METHODS.has(req.method) ? req.method : '_OTHER',
    [ATTR_URL_SCHEME]: req.scheme,
    [ATTR_URL_PATH]: path,
    [ATTR_SERVER_ADDRESS]: host,
    [ATTR_SERVER_PORT]: port,
    [ATTR_NETWORK_PROTOCOL_NAME]: 'http',
    [ATTR_NETWORK_PROTOCOL_VERSION]: req.protocol === 'http2' ? '2' : '1.1',
    [ATTR_NETWORK_PEER_ADDRESS]: req.source.address,
    [ATTR_NETWORK_PEER_PORT]: req.source.port,
    [ATTR_TRELLIS_LISTENER]: listener,
  };
  if (!KNOWN_METHODS.has(req.method)) a[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = req.method;
  if (query !== undefined) a[ATTR_URL_QUERY] = query;
  // A client span names the whole URL it asked for (the conventions require url.full there).
  if (kind === 'client')
    a[ATTR_URL_FULL] = `${req.scheme}://${req.authority}${path}${query === undefined ? '' : `?${query}`}`;
  const ua = firstHeader(req, 'user-agent');
  if (ua !== undefined) a[ATTR_USER_AGENT_ORIGINAL] = ua;
  if (req.grpc) {
    a[ATTR_RPC_SYSTEM_NAME] = 'grpc';
    a[ATTR_RPC_METHOD] = path.slice(1); // /package.Service/Method
  }
  if (req.source.identity !== undefined) a[ATTR_TRELLIS_SOURCE_IDENTITY] = req.source.identity;
  return a;
}
