// HTTP/2-specific failures, next to the shared ones in src/errors.ts.
import { ProxyError } from '../errors.ts';

/** The upstream refused the stream (RST_STREAM REFUSED_STREAM or above a GOAWAY's last id): never processed, safe to retry. */
export const UpstreamRefusedStreamError = (target: string): ProxyError =>
  new ProxyError('TRELLIS_UPSTREAM_REFUSED_STREAM', 503, `upstream ${target} refused the stream`);

/** The client's request body failed (stream aborted, malformed framing) before the exchange ended. */
export const RequestBodyAbortedError = (cause?: unknown): ProxyError =>
  new ProxyError('TRELLIS_REQUEST_BODY_ABORTED', 400, 'the request body was aborted', { cause });

/** dispatch() threw: a bug somewhere below, answered rather than crashing the connection. */
export const InternalProxyError = (cause: unknown): ProxyError =>
  new ProxyError('TRELLIS_INTERNAL', 500, 'internal proxy error', { cause });

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
