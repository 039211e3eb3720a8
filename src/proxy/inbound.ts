// The inbound stack (mesh → local app), read top to bottom. Each line is one layer; the request
// meets them in this order before it is handed to the app through the listener's route table.
import { routeAndForward, type StackEnv } from './forward.ts';
import { composeLayers, type Dispatch, type Layer } from './types.ts';

export function inboundStack(env: StackEnv): Dispatch {
  const layers: Layer[] = [
    // (issue 6) mTLS identity, authentication, authorization
    // (issue 3) local rate limits
  ];
  return composeLayers(layers, routeAndForward(env));
}
