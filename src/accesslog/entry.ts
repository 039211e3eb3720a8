// One access-log line: what it holds, and the pure parts of filling it in — the flags an answer
// earns from the error code that made it, and the trace id of W3C (`traceparent`) or Zipkin (B3)
// headers. Fields the proxy did not learn are left out rather than written empty.
import type { HeaderList } from '../proxy/types.ts';

/** Why an answer is not a plain upstream answer (Envoy's response flags, spelled out). */
export type AccessLogFlag =
  | 'retried'
  | 'timed_out'
  | 'no_healthy_upstream'
  | 'ejected'
  | 'denied'
  | 'unauthenticated'
  | 'rate_limited'
  | 'overflow'
  | 'upstream_connect_failed'
  | 'upstream_reset'
  | 'downstream_reset'
  | 'fault_injected'
  | 'no_route';

export interface AccessLogEntry {
  /** When the request head was complete (ISO 8601). */
  time: string;
  traceId?: string | undefined;
  requestId?: string | undefined;
  direction: 'inbound' | 'outbound';
  listener: string;
  route?: string | undefined;
  source: { address: string; port: number; identity?: string | undefined };
  destination: { cluster?: string | undefined; endpoint?: string | undefined; identity?: string | undefined };
  method: string;
  authority: string;
  /** The path without its query: queries carry tokens and personal data. */
  path: string;
  protocol: 'http1' | 'http2';
  /** The status the client saw (499: it went away first, as nginx and Envoy log it). */
  status: number;
  grpcStatus?: number | undefined;
  flags: AccessLogFlag[];
  /** The error code of an answer the proxy made itself (TRELLIS_...). */
  error?: string | undefined;
  /** Tries sent upstream (retries and hedges included), when more than one. */
  attempts?: number | undefined;
  durationMs: number;
  /** From the request head to the upstream's response head. */
  upstreamMs?: number | undefined;
  bytesReceived: number;
  bytesSent: number;
  userAgent?: string | undefined;
}

const CODE_FLAGS: ReadonlyMap<string, readonly AccessLogFlag[]> = new Map<string, AccessLogFlag[]>([
  ['TRELLIS_UPSTREAM_TIMEOUT', ['timed_out']],
  ['TRELLIS_UPSTREAM_PER_TRY_TIMEOUT', ['timed_out']],
  ['TRELLIS_IDLE_TIMEOUT', ['timed_out']],
  ['TRELLIS_NO_HEALTHY_ENDPOINT', ['no_healthy_upstream']],
  ['TRELLIS_RBAC_DENIED', ['denied']],
  ['TRELLIS_JWT_INVALID', ['unauthenticated']],
  ['TRELLIS_RATE_LIMITED', ['rate_limited']],
  ['TRELLIS_OVERFLOW', ['overflow']],
  ['TRELLIS_UPSTREAM_CONNECT_FAILED', ['upstream_connect_failed']],
  ['TRELLIS_UPSTREAM_CONNECT_TIMEOUT', ['upstream_connect_failed', 'timed_out']],
  ['TRELLIS_UPSTREAM_RESET', ['upstream_reset']],
  ['TRELLIS_UPSTREAM_REFUSED_STREAM', ['upstream_reset']],
  ['TRELLIS_UPSTREAM_CLOSED', ['upstream_reset']],
  ['TRELLIS_UPSTREAM_PROTOCOL_ERROR', ['upstream_reset']],
  ['TRELLIS_DOWNSTREAM_RESET', ['downstream_reset']],
  ['TRELLIS_REQUEST_BODY_ABORTED', ['downstream_reset']],
  ['TRELLIS_FAULT_ABORT', ['fault_injected']],
  ['TRELLIS_ROUTE_NOT_FOUND', ['no_route']],
]);

/** Adds the flags of a proxy error code to `flags` (each once). */
export function addCodeFlags(flags: AccessLogFlag[], code: string): void {
  const more = CODE_FLAGS.get(code);
  if (more === undefined) return;
  for (const f of more) if (!flags.includes(f)) flags.push(f);
}

/** Values taken from headers are cut here: a 60 KiB user-agent should not become a 60 KiB line. */
export const MAX_HEADER_FIELD = 256;

function clip(v: string): string {
  return v.length <= MAX_HEADER_FIELD ? v : v.slice(0, MAX_HEADER_FIELD);
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/;
const B3_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const ZERO_ID = /^0+$/;

function validId(id: string | undefined): string | undefined {
  return id === undefined || ZERO_ID.test(id) ? undefined : id;
}

/** The trace id of `traceparent`, else of B3 (`b3` single header, then `x-b3-traceid`). */
export function traceIdOf(traceparent?: string, b3?: string, b3TraceId?: string): string | undefined {
  if (traceparent !== undefined) {
    const id = validId(TRACEPARENT.exec(traceparent.trim().toLowerCase())?.[1]);
    if (id !== undefined) return id;
  }
  if (b3 !== undefined) {
    const first = b3.trim().toLowerCase().split('-', 1)[0]!;
    if (B3_ID.test(first) && validId(first) !== undefined) return first;
  }
  if (b3TraceId !== undefined) {
    const id = b3TraceId.trim().toLowerCase();
    if (B3_ID.test(id) && validId(id) !== undefined) return id;
  }
  return undefined;
}

/** What one pass over the request headers finds for the log. */
export interface RequestHeaderFields {
  traceId?: string | undefined;
  requestId?: string | undefined;
  userAgent?: string | undefined;
}

export function requestHeaderFields(headers: HeaderList): RequestHeaderFields {
  let traceparent: string | undefined;
  let b3: string | undefined;
  let b3TraceId: string | undefined;
  let requestId: string | undefined;
  let userAgent: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (name === 'traceparent') traceparent ??= value;
    else if (name === 'b3') b3 ??= value;
    else if (name === 'x-b3-traceid') b3TraceId ??= value;
    else if (name === 'x-request-id') requestId ??= clip(value);
    else if (name === 'user-agent') userAgent ??= clip(value);
  }
  return { traceId: traceIdOf(traceparent, b3, b3TraceId), requestId, userAgent };
}

/** The first value of `name` in a response header list (or trailers). */
export function headerValue(headers: HeaderList | null, name: string): string | undefined {
  if (headers === null) return undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** The path without its query string (nor fragment). */
export function pathOnly(target: string): string {
  const q = target.indexOf('?');
  const h = target.indexOf('#');
  const end = q === -1 ? h : h === -1 ? q : Math.min(q, h);
  return end === -1 ? target : target.slice(0, end);
}

/** Milliseconds, to the microsecond. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
