// The inbound stack (mesh → local app), read top to bottom: the listener layers, then the route's
// own pipeline, which hands the request to the app.
import { rateLimitLayer } from '../policy/rate-limit.ts';
import { routeAndForward, type StackEnv } from './forward.ts';
import { RouteRuntimes, type RouteLayers } from './route-runtime.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

const listenerLayers: Layer[] = [
  // (issue 6) mTLS identity, authentication, authorization
];

export const inboundRouteLayers: RouteLayers = {
  request: [
    rateLimitLayer, // protects the local app: 429 past the route's token bucket
  ],
  attempt: [],
};

export function inboundStack(env: StackEnv): Dispatch {
  return composeLayers(listenerLayers, routeAndForward(env, new RouteRuntimes(env, inboundRouteLayers)));
}
