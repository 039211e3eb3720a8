// When a try may be retried, in Envoy's retry_on vocabulary (as Istio's `retryOn` names it):
//   5xx            any 5xx response, and every failure to get one (connect, refused, reset, timeout)
//   gateway-error  502, 503, 504 responses, and the same failures (they surface as 502-504)
//   reset          the upstream did not answer: disconnect, reset, protocol error, per-try timeout
//   connect-failure  connecting failed or timed out;  refused-stream  HTTP/2 REFUSED_STREAM / GOAWAY
//   retriable-4xx  409;  retriable-status-codes  the route's list
//   cancelled, deadline-exceeded, internal, resource-exhausted, unavailable: the grpc-status of a
//   gRPC trailers-only answer (the status in the response head, before any message).
// Non-idempotent methods are retried only where the request never reached the application
// (connect failure, refused stream) unless the route sets retryNonIdempotent. gRPC status
// conditions apply to gRPC calls (always POST) as they are: naming one is the route author's
// statement that the call may be repeated on that status, as in Envoy's retry_grpc_on.
import type { ProxyError } from '../errors.ts';
import type { RetryPolicy } from '../model/policy.ts';
import type { HeaderList } from '../proxy/types.ts';
import { headerValue } from './grpc-timeout.ts';

/** How a try failed, for the conditions. */
export const FailureKind = { none: 0, connect: 1, refused: 2, reset: 3, timeout: 4 } as const;
export type FailureKind = (typeof FailureKind)[keyof typeof FailureKind];

export function failureKind(err: ProxyError): FailureKind {
  switch (err.code) {
    case 'TRELLIS_UPSTREAM_CONNECT_FAILED':
    case 'TRELLIS_UPSTREAM_CONNECT_TIMEOUT':
      return FailureKind.connect;
    case 'TRELLIS_UPSTREAM_REFUSED_STREAM':
    case 'TRELLIS_UPSTREAM_CLOSED': // the transport was closed by a reload before sending
      return FailureKind.refused;
    case 'TRELLIS_UPSTREAM_RESET':
    case 'TRELLIS_UPSTREAM_PROTOCOL_ERROR':
      return FailureKind.reset;
    case 'TRELLIS_UPSTREAM_PER_TRY_TIMEOUT':
      return FailureKind.timeout;
    default:
      return FailureKind.none;
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

const GRPC_CODES: Partial<Record<RetryPolicy['retryOn'][number], number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

/** A route's retry conditions, compiled to lookup tables once per config. */
export class RetryConditions {
  private readonly statuses = new Uint8Array(600);
  private readonly grpcStatuses = new Uint8Array(17);
  private readonly kinds = new Uint8Array(5);
  private readonly anyGrpc: boolean;
  private readonly nonIdempotent: boolean;

  constructor(policy: Pick<RetryPolicy, 'retryOn' | 'retriableStatusCodes' | 'retryNonIdempotent'>) {
    const on = new Set(policy.retryOn);
    const { connect, refused, reset, timeout } = FailureKind;
    if (on.has('5xx')) this.statuses.fill(1, 500, 600);
    if (on.has('gateway-error')) for (const s of [502, 503, 504]) this.statuses[s] = 1;
    if (on.has('retriable-4xx')) this.statuses[409] = 1;
    if (on.has('retriable-status-codes')) for (const s of policy.retriableStatusCodes) this.statuses[s] = 1;
    if (on.has('5xx') || on.has('gateway-error') || on.has('reset')) {
      for (const k of [connect, refused, reset, timeout]) this.kinds[k] = 1;
    }
    if (on.has('connect-failure')) this.kinds[connect] = 1;
    if (on.has('refused-stream')) this.kinds[refused] = 1;
    let anyGrpc = false;
    for (const c of on) {
      const code = GRPC_CODES[c];
      if (code === undefined) continue;
      this.grpcStatuses[code] = 1;
      anyGrpc = true;
    }
    this.anyGrpc = anyGrpc;
    this.nonIdempotent = policy.retryNonIdempotent;
  }

  /** A response head to drop and retry instead of forwarding. */
  responseRetriable(status: number, headers: HeaderList, grpc: boolean, idempotent: boolean): boolean {
    if (grpc && this.anyGrpc && status === 200) {
      const v = headerValue(headers, 'grpc-status');
      if (v !== undefined) {
        const code = Number(v);
        return code >= 0 && code <= 16 && this.grpcStatuses[code] === 1;
      }
    }
    return (idempotent || this.nonIdempotent) && status < 600 && this.statuses[status] === 1;
  }

  /** A failed try (no response head) that may be retried. */
  failureRetriable(err: ProxyError, idempotent: boolean): boolean {
    const kind = failureKind(err);
    if (kind === FailureKind.none || this.kinds[kind] !== 1) return false;
    return idempotent || this.nonIdempotent || kind === FailureKind.connect || kind === FailureKind.refused;
  }
}
