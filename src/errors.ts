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
