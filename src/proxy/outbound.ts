// The outbound stack (app → mesh), read top to bottom. The request meets the listener layers,
// then the route's own pipeline: its request layers, the weighted pick of a backend cluster, the
// attempt layers, then the cluster. A route's layers exist only if its config uses them.
import { routeAndForward, type StackEnv } from './forward.ts';
import { RouteRuntimes, type RouteLayers } from './route-runtime.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

const listenerLayers: Layer[] = [];

export const outboundRouteLayers: RouteLayers = {
  request: [],
  attempt: [],
};

export function outboundStack(env: StackEnv): Dispatch {
  return composeLayers(listenerLayers, routeAndForward(env, new RouteRuntimes(env, outboundRouteLayers)));
}
