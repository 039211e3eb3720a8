// The outbound stack (app → mesh), read top to bottom. The request meets the listener layers,
// then the route's own pipeline: its request layers, the weighted pick of a backend cluster, the
// attempt layers, then the cluster. A route's layers exist only if its config uses them.
import { corsLayer } from '../policy/cors.ts';
import { faultLayer } from '../policy/fault.ts';
import { headersLayer } from '../policy/headers.ts';
import { mirrorLayer } from '../policy/mirror.ts';
import { rateLimitLayer } from '../policy/rate-limit.ts';
import { redirectLayer } from '../policy/redirect.ts';
import { deadlineLayer } from '../resilience/deadline.ts';
import { retryLayer } from '../resilience/retry.ts';
import { routeAndForward, type StackEnv } from './forward.ts';
import { RouteRuntimes, type RouteLayers } from './route-runtime.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

const listenerLayers: Layer[] = [];

export const outboundRouteLayers: RouteLayers = {
  request: [
    corsLayer, // preflights answered here; allowed origins get the CORS response headers
    redirectLayer, // the route answers with a redirect, never calling upstream
    rateLimitLayer, // 429 past the route's token bucket
    faultLayer, // injected delay, then injected abort
    headersLayer, // rewrite (path, authority), request and response header changes
    mirrorLayer, // a copy of the (rewritten) request to the mirror clusters
  ],
  attempt: [
    deadlineLayer, // gRPC: grpc-timeout shortens the route's deadline; the rest goes upstream
    retryLayer, // retries and hedging (deadline included), each try on an endpoint not tried yet
  ],
};

export function outboundStack(env: StackEnv): Dispatch {
  return composeLayers(listenerLayers, routeAndForward(env, new RouteRuntimes(env, outboundRouteLayers)));
}
