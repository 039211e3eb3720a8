// The inbound stack (mesh → local app), read top to bottom: the listener layers, then the route's
// own pipeline, which hands the request to the app.
import { accessLogLayer, accessLogUpstream } from '../accesslog/layer.ts';
import { rateLimitLayer } from '../policy/rate-limit.ts';
import { tapLayer, tapUpstream } from '../tap/layer.ts';
import { tracingLayer } from '../tracing/layer.ts';
import { authzLayer, clientCertLayer, jwtLayer } from './inbound-security.ts';
import { sourcePeerLayer } from './peer-metadata.ts';
import { routeAndForward, type StackEnv } from './forward.ts';
import { RouteRuntimes, type RouteLayers } from './route-runtime.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

/** The listener's layers: who the caller is (mTLS, JWT), then whether it may (authorization). */
function listenerLayers(env: StackEnv): Layer[] {
  const sec = env.inboundSecurity;
  const layers: (Layer | undefined)[] = [
    tracingLayer(env), // the server span of this hop; the caller's trace goes on to the app
    accessLogLayer(env), // one JSON line per request when telemetry.accessLog is on (else absent)
    tapLayer(env), // live tap (`trellis tap`): before the checks, so denials are seen too
    sourcePeerLayer(env.edge), // x-trellis-peer: who calls, for metrics; stripped before the app
    clientCertLayer(env.meshTls?.spiffeId), // x-forwarded-client-cert: the mTLS peer, set by us alone
    sec && jwtLayer(sec.authenticator, env.edge?.denied), // RequestAuthentication: 401 for a present, invalid token
    sec && authzLayer(sec.authorizer, sec.destinationPort ?? env.listenerPort, env.edge?.denied), // 403 RBAC: access denied
  ];
  return layers.filter((l) => l !== undefined);
}

export const inboundRouteLayers: RouteLayers = {
  request: [
    rateLimitLayer, // protects the local app: 429 past the route's token bucket
  ],
  attempt: [
    accessLogUpstream, // tells the access log the route, cluster and endpoint (absent without it)
    tapUpstream, // tells a live tap the route, cluster and endpoint
  ],
};

export function inboundStack(env: StackEnv): Dispatch {
  return composeLayers(listenerLayers(env), routeAndForward(env, new RouteRuntimes(env, inboundRouteLayers)));
}
