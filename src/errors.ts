// One error class per failure, each with a stable code that scripts, logs and the
// `x-trellis-error` response header can rely on.

export class TrellisError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  /** Path inside the document, e.g. "clusters[0].lb.policy". */
  path: string;
  message: string;
}

/** A config that cannot be used; carries every problem found, each with file:line:column. */
export class ConfigError extends TrellisError {
  readonly diagnostics: Diagnostic[];
  constructor(diagnostics: Diagnostic[]) {
    super('TRELLIS_CONFIG_INVALID', diagnostics.map(formatDiagnostic).join('\n'));
    this.diagnostics = diagnostics;
  }
}

export function formatDiagnostic(d: Diagnostic): string {
  const at = d.path ? ` (${d.path})` : '';
  // Line 0: the config came as data (a pushed snapshot), so the path is the only location.
  if (d.line === 0) return `${d.file}: ${d.message}${at}`;
  return `${d.file}:${d.line}:${d.column}: ${d.message}${at}`;
}

/** Errors the proxy answers a request with. `status` is the HTTP status sent downstream. */
export class ProxyError extends TrellisError {
  readonly status: number;
  constructor(code: string, status: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.status = status;
  }
}

export const RouteNotFoundError = (authority: string, path: string): ProxyError =>
  new ProxyError('TRELLIS_ROUTE_NOT_FOUND', 404, `no route for ${authority}${path}`);
export const NoHealthyEndpointError = (cluster: string): ProxyError =>
  new ProxyError('TRELLIS_NO_HEALTHY_ENDPOINT', 503, `cluster ${cluster} has no healthy endpoint`);
export const ConnectFailedError = (target: string, cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_CONNECT_FAILED', 503, `could not connect to ${target}`, { cause });
export const ConnectTimeoutError = (target: string, ms: number): ProxyError =>
  new ProxyError(
    'TRELLIS_UPSTREAM_CONNECT_TIMEOUT',
    503,
    `connect to ${target} timed out after ${ms}ms (is the port blocked?)`,
  );
export const UpstreamResetError = (target: string, cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_RESET', 502, `upstream ${target} reset the connection`, { cause });
export const UpstreamProtocolError = (target: string, detail: string): ProxyError =>
  new ProxyError(
    'TRELLIS_UPSTREAM_PROTOCOL_ERROR',
    502,
    `upstream ${target} sent an invalid response: ${detail}`,
  );
export const UpstreamTimeoutError = (ms: number): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_TIMEOUT', 504, `upstream did not answer within ${ms}ms`);

// --- the client's side ---
export const BadRequestError = (detail: string): ProxyError =>
  new ProxyError('TRELLIS_BAD_REQUEST', 400, `bad request: ${detail}`);
export const HttpVersionNotSupportedError = (): ProxyError =>
  new ProxyError('TRELLIS_HTTP_VERSION_NOT_SUPPORTED', 505, 'only HTTP/1.x is spoken here');
/** A transfer coding before chunked: the proxy re-frames bodies and could only drop it (RFC 9112 §6.1). */
export const UnsupportedTransferCodingError = (value: string): ProxyError =>
  new ProxyError('TRELLIS_UNSUPPORTED_TRANSFER_CODING', 501, `transfer coding not supported: ${value}`);
export const HeadersTimeoutError = (): ProxyError =>
  new ProxyError('TRELLIS_HEADERS_TIMEOUT', 408, 'request headers took too long');
export const HeadersTooLargeError = (): ProxyError =>
  new ProxyError('TRELLIS_HEADERS_TOO_LARGE', 431, 'request headers are too large');
/** The client reset or abandoned the connection (499: client closed request, as nginx). */
export const DownstreamResetError = (cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_DOWNSTREAM_RESET', 499, 'client closed the connection', { cause });
/** The client's request body failed (stream aborted, malformed framing) before the exchange ended. */
export const RequestBodyAbortedError = (cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_REQUEST_BODY_ABORTED', 400, 'the request body was aborted', { cause });
/** Neither side sent or received a byte for `ms`; both sockets were closed. */
export const IdleTimeoutError = (ms: number): ProxyError =>
  new ProxyError('TRELLIS_IDLE_TIMEOUT', 504, `connection idle for ${ms}ms`);

// --- HTTP/2 ---
/** The upstream refused the stream (RST_STREAM REFUSED_STREAM or above a GOAWAY's last id): never processed, safe to retry. */
export const UpstreamRefusedStreamError = (target: string): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_REFUSED_STREAM', 503, `upstream ${target} refused the stream`);
/** HTTP/2 CONNECT (tunnels, extended CONNECT) is not proxied. */
export const ConnectMethodUnsupportedError = (): ProxyError =>
  new ProxyError('TRELLIS_HTTP2_CONNECT_UNSUPPORTED', 501, 'CONNECT over HTTP/2 is not supported');
/** The upstream transport was closed with close(); no new exchanges. */
export const UpstreamClosedError = (target: string): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_CLOSED', 503, `upstream ${target} is closed`);
/** The request cannot be expressed in HTTP/2 (e.g. a header value node:http2 rejects). */
export const InvalidHttp2RequestError = (detail: string, cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_HTTP2_REQUEST_INVALID', 400, `request cannot be sent over HTTP/2: ${detail}`, {
    cause,
  });

/** dispatch() threw: a bug somewhere below, answered rather than crashing the connection. */
export const InternalProxyError = (cause: unknown): ProxyError =>
  new ProxyError('TRELLIS_INTERNAL', 500, 'internal proxy error', { cause });

// --- traffic policy answered at the proxy (src/policy) ---
/** A local rate limit refused the request (Envoy's local_ratelimit 429). */
export const RateLimitedError = (route: string): ProxyError =>
  new ProxyError('TRELLIS_RATE_LIMITED', 429, `rate limit of route ${route} exceeded`);
/** Fault injection aborted the request with `status` (as configured on the route). */
export const FaultAbortError = (status: number): ProxyError =>
  new ProxyError('TRELLIS_FAULT_ABORT', status, 'fault injected: request aborted');

// --- inbound security (src/authn, src/authz) ---
/** An AuthorizationPolicy denied the request (Envoy's RBAC filter answer, body as Istio's). */
export const AccessDeniedError = (): ProxyError =>
  new ProxyError('TRELLIS_RBAC_DENIED', 403, 'RBAC: access denied');
/** A JWT was present and invalid (expired, wrong issuer or audience, bad signature, …). */
export const JwtRejectedError = (reason: string): ProxyError =>
  new ProxyErrorWithHeaders('TRELLIS_JWT_INVALID', 401, reason, [
    'www-authenticate',
    `Bearer realm="trellis", error="invalid_token"`,
  ]);

// --- resilience (retries, hedging, deadlines) ---
/** One try of a retried request took longer than the route's perTryTimeout; it was cancelled. */
export const PerTryTimeoutError = (ms: number): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_PER_TRY_TIMEOUT', 504, `upstream try did not answer within ${ms}ms`);
/**
 * A retriable answer (`status`) was dropped for a retry that then could not be sent (the body
 * stopped being replayable while waiting); reported with the dropped answer's status.
 */
export const DroppedResponseError = (status: number): ProxyError =>
  new ProxyError(
    'TRELLIS_UPSTREAM_RESPONSE_DROPPED',
    status,
    `upstream answered ${status}; the retry that replaced it could not be sent`,
  );

// --- cluster protection (src/protection) ---
/** A ProxyError whose answer carries extra response headers (the response writers add them). */
export class ProxyErrorWithHeaders extends ProxyError {
  /** Flat list: name0, value0, name1, value1, ...; lower-case names, values the proxy wrote. */
  readonly headers: readonly string[];
  constructor(code: string, status: number, message: string, headers: readonly string[]) {
    super(code, status, message);
    this.headers = headers;
  }
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

/** The extra response headers of `err` (none for a plain ProxyError). */
export function errorResponseHeaders(err: ProxyError): readonly string[] {
  return err instanceof ProxyErrorWithHeaders ? err.headers : NO_HEADERS;
}

/** Marks an answer the proxy gave because a cluster was at a limit (as Envoy's x-envoy-overloaded). */
export const OVERLOADED_HEADER = 'x-trellis-overloaded';

/**
 * A cluster limit refused the request at once (connection-pool limits, adaptive concurrency). The
 * request never reached an endpoint, so it is safe to retry elsewhere, but Envoy does not retry
 * overflow (a retry adds load to what is overloaded) and neither should the retry layer.
 */
export const OverflowError = (cluster: string, limit: string): ProxyError =>
  new ProxyErrorWithHeaders('TRELLIS_OVERFLOW', 503, `cluster ${cluster} is over its ${limit} limit`, [
    OVERLOADED_HEADER,
    'true',
  ]);
