// gRPC deadlines. A gRPC client states how long it will wait in `grpc-timeout`; the proxy's
// deadline for the request is the earlier of that and the route's timeout. The RouteExchange's
// timer is brought forward to it (so a timed-out call is answered DEADLINE_EXCEEDED, the gRPC
// mapping of the 504 it produces, and its upstream stream is cancelled), and every try carries
// the budget still left in its own grpc-timeout, so the upstream gives up when the caller does.
import { routeExchangeOf } from '../proxy/route-exchange.ts';
import type { AttemptLayerFactory } from '../proxy/route-runtime.ts';
import type { Cancel, ProxyRequest, ResponseHandler } from '../proxy/types.ts';
import {
  GRPC_TIMEOUT,
  formatGrpcTimeout,
  headerValue,
  parseGrpcTimeout,
  withHeader,
} from './grpc-timeout.ts';

/**
 * The request's deadline (performance.now() ms; Infinity when none): min(route timeout,
 * grpc-timeout). Shortens the RouteExchange above (`handler`) to match.
 */
export function requestDeadline(req: ProxyRequest, handler: ResponseHandler): number {
  const exchange = routeExchangeOf(handler);
  const routeDeadline = exchange?.deadline ?? Infinity;
  if (!req.grpc) return routeDeadline;
  const value = headerValue(req.headers, GRPC_TIMEOUT);
  const ms = value === undefined ? undefined : parseGrpcTimeout(value);
  if (ms === undefined) return routeDeadline;
  exchange?.shortenDeadline(ms);
  return Math.min(routeDeadline, performance.now() + ms);
}

/**
 * The request one try sends: for gRPC, grpc-timeout set to what is left of `deadline` (or of
 * `tryMs`, the per-try timeout, when that is shorter). Other requests go unchanged, or as a
 * shallow copy when `copy` is set (the caller marks it).
 */
export function withRemainingBudget(
  req: ProxyRequest,
  deadline: number,
  tryMs = Infinity,
  copy = false,
): ProxyRequest {
  const left = req.grpc ? Math.min(deadline - performance.now(), tryMs) : Infinity;
  if (left === Infinity) return copy ? { ...req } : req;
  return { ...req, headers: withHeader(req.headers, GRPC_TIMEOUT, formatGrpcTimeout(left)) };
}

const noop: Cancel = () => {};

/**
 * The deadline alone, for routes without retries or hedging (the attempt layer of retry.ts does
 * the same for the routes that have them).
 */
export const deadlineLayer: AttemptLayerFactory = (route) => {
  if (route.config.retries !== undefined || route.config.hedge !== undefined) return undefined;
  return (next) => (req, body, handler) => {
    if (!req.grpc) return next(req, body, handler);
    const deadline = requestDeadline(req, handler);
    // Already over: the RouteExchange's timer (due now) answers; nothing goes upstream.
    if (deadline <= performance.now()) return noop;
    return next(withRemainingBudget(req, deadline), body, handler);
  };
};
