// Failures of opaque TCP proxying that src/errors.ts does not cover yet (the lead may move them
// there). Each has a stable code; the HTTP status is only for callers that answer over HTTP.
import { ProxyError } from '../errors.ts';

/** The client reset or abandoned the connection (499: client closed request, as nginx). */
export const DownstreamResetError = (cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_DOWNSTREAM_RESET', 499, 'client closed the connection', { cause });

/** Neither side sent or received a byte for `ms`; both sockets were closed. */
export const IdleTimeoutError = (ms: number): ProxyError =>
  new ProxyError('TRELLIS_IDLE_TIMEOUT', 504, `connection idle for ${ms}ms`);
