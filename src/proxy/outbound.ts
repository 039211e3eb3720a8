// The outbound stack (app → mesh), read top to bottom. Each line is one layer; the request
// meets them in this order. Resilience (retries, breakers) and telemetry layers slot in here.
import { routeAndForward, type StackEnv } from './forward.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

export function outboundStack(env: StackEnv): Dispatch {
  const layers: Layer[] = [
    // (issue 3) retries with budget, circuit breaking, fault injection, mirroring, rate limits
  ];
  return composeLayers(layers, routeAndForward(env));
}
