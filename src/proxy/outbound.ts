// The outbound stack (app → mesh), read top to bottom. The request meets the listener layers,
// then the route's own pipeline: its request layers, the weighted pick of a backend cluster, the
// attempt layers, then the cluster. A route's layers exist only if its config uses them.
import { accessLogLayer, accessLogUpstream } from '../accesslog/layer.ts';
import { corsLayer } from '../policy/cors.ts';
import { faultLayer } from '../policy/fault.ts';
import { headersLayer } from '../policy/headers.ts';
import { mirrorLayer } from '../policy/mirror.ts';
import { rateLimitLayer } from '../policy/rate-limit.ts';
import { redirectLayer } from '../policy/redirect.ts';
import { deadlineLayer } from '../resilience/deadline.ts';
import { retryLayer } from '../resilience/retry.ts';
import { tapLayer, tapUpstream } from '../tap/layer.ts';
import { tracingLayer } from '../tracing/layer.ts';
import { peerMetadataLayer } from './peer-metadata.ts';
import { routeAndForward, type StackEnv } from './forward.ts';
import { RouteRuntimes, type RouteLayers } from './route-runtime.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

function listenerLayers(env: StackEnv): Layer[] {
  const layers: (Layer | undefined)[] = [
    tracingLayer(env), // the client span of this hop; starts a trace when none came in
    accessLogLayer(env), // one JSON line per request when telemetry.accessLog is on (else absent)
    tapLayer(env), // live tap (`trellis tap`); one boolean read when nobody taps
  ];
  return layers.filter((l) => l !== undefined);
}

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
    peerMetadataLayer, // mesh clusters: x-trellis-peer tells the callee who calls (metrics only)
    deadlineLayer, // gRPC: grpc-timeout shortens the route's deadline; the rest goes upstream
    retryLayer, // retries and hedging (deadline included), each try on an endpoint not tried yet
    accessLogUpstream, // tells the access log the route, cluster and endpoint (absent without it)
    tapUpstream, // tells a live tap the route, cluster and endpoint (and decides `--to` sessions)
  ],
};

export function outboundStack(env: StackEnv): Dispatch {
  return composeLayers(
    listenerLayers(env),
    routeAndForward(env, new RouteRuntimes(env, outboundRouteLayers)),
  );
}
