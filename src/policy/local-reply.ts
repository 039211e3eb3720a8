// Answers the proxy gives by itself on a route's behalf (redirects, 429s, injected aborts, CORS
// preflights): a whole response handed to the ResponseHandler at once, never reaching upstream.
// A gRPC request gets a gRPC-shaped answer: HTTP 200, trailers-only, grpc-status in the head.
import type { ProxyError } from '../errors.ts';
import { encodeGrpcMessage, grpcStatusForHttp } from '../http2/headers.ts';
import type { HeaderList, ProxyRequest, ResponseController, ResponseHandler } from '../proxy/types.ts';

/** A local answer has nothing upstream to pause or abort. */
export const LOCAL_CONTROLLER: ResponseController = { resume() {}, abort() {} };

/** gRPC status codes by their canonical names (grpc/doc/statuscodes.md). */
const GRPC_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

/** The HTTP status for each gRPC code, as Envoy maps them (grpcToHttpStatus), index = code. */
const HTTP_FOR_GRPC = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** A gRPC status given by name ("UNAVAILABLE", any case) or number (14, "14"); undefined if unknown. */
export function parseGrpcStatus(value: string | number): number | undefined {
  if (typeof value === 'number')
    return Number.isInteger(value) && value >= 0 && value <= 16 ? value : undefined;
  const s = value.trim();
  if (/^\d{1,2}$/.test(s)) return parseGrpcStatus(Number(s));
  return GRPC_CODES[s.toUpperCase()];
}

export function httpStatusForGrpc(code: number): number {
  return HTTP_FOR_GRPC[code] ?? 500;
}

/** Sends a whole gRPC trailers-only answer: the status travels in the one header block. */
export function replyGrpc(
  handler: ResponseHandler,
  grpcStatus: number,
  message: string,
  code: string,
  extra: HeaderList = [],
): void {
  const headers: HeaderList = [
    'content-type',
    'application/grpc',
    'grpc-status',
    String(grpcStatus),
    'grpc-message',
    encodeGrpcMessage(message),
    'x-trellis-error',
    code,
  ];
  for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
  handler.onResponseStart(200, headers, LOCAL_CONTROLLER);
  handler.onResponseEnd(null);
}

/**
 * Answers `err` (status, code, message as a text body) plus `extra` headers; gRPC requests get
 * the gRPC status the HTTP status maps to, the extra headers riding along in the head.
 */
export function replyError(
  req: ProxyRequest,
  handler: ResponseHandler,
  err: ProxyError,
  extra: HeaderList = [],
): void {
  if (req.grpc) {
    replyGrpc(handler, grpcStatusForHttp(err.status), err.message, err.code, extra);
    return;
  }
  const body = Buffer.from(`${err.message}\n`, 'utf8');
  const headers: HeaderList = [
    'content-type',
    'text/plain; charset=utf-8',
    'x-trellis-error',
    err.code,
    'content-length',
    String(body.length),
  ];
  for (let i = 0; i < extra.length; i++) headers.push(extra[i]!);
  handler.onResponseStart(err.status, headers, LOCAL_CONTROLLER);
  if (req.method !== 'HEAD') handler.onResponseData(body);
  handler.onResponseEnd(null);
}

/** A response without a body (redirects, preflights). */
export function replyEmpty(handler: ResponseHandler, status: number, headers: HeaderList): void {
  handler.onResponseStart(status, headers, LOCAL_CONTROLLER);
  handler.onResponseEnd(null);
}
