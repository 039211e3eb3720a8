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
