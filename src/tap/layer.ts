// The tap in the stacks: a listener layer that follows each tapped request to its end and reports
// it (`req` at the head, `rsp` at the response head, `end` when over; exchange.ts), and an attempt
// layer that tells it the route, the cluster and the endpoint picked (and decides `--to` sessions,
// which need the destination service). Both exist whenever the proxy has a tap hub; untapped, the
// listener layer reads one boolean and the attempt layer one symbol key, then step aside.
import { kTriedEndpoints, type TriedEndpoints } from '../proxy/cluster.ts';
import type { StackEnv } from '../proxy/forward.ts';
import type { AttemptLayerFactory } from '../proxy/route-runtime.ts';
import type { Dispatch, Layer, ProxyRequest } from '../proxy/types.ts';
import { TapExchange, type Upstream } from './exchange.ts';
import type { TapSession } from './hub.ts';

/** The request's tap record, carried on the request (object spreads copy symbol keys). */
const kTap = Symbol('trellis.tap');
type Tagged = ProxyRequest & { [kTap]?: TapExchange };

/** The tap's listener layer; undefined when the proxy has no tap hub. */
export function tapLayer(env: Pick<StackEnv, 'tap' | 'direction' | 'meshTls'>): Layer | undefined {
  const hub = env.tap;
  if (hub === undefined) return undefined;
  const direction = env.direction;
  const self = env.meshTls?.spiffeId;
  return (next: Dispatch): Dispatch =>
    (req, body, handler) => {
      if (!hub.active) return next(req, body, handler);
      let accepted: TapSession[] | undefined;
      let awaiting: TapSession[] | undefined;
      for (const s of hub.sessions) {
        if (!s.matchesHead(direction, req)) continue;
        if (s.waitsForDestination) (awaiting ??= []).push(s);
        else if (s.admit()) (accepted ??= []).push(s);
      }
      if (accepted === undefined && awaiting === undefined) return next(req, body, handler);
      const ex = new TapExchange(hub, direction, self, req, handler, accepted ?? [], awaiting ?? []);
      const tagged: Tagged = { ...req, [kTap]: ex };
      ex.cancel = next(tagged, ex.wrap(body), ex);
      // Most requests met their cluster within next(): their `req` goes out with the destination.
      ex.sendRequest();
      return ex.abort;
    };
}

/**
 * The last attempt layer (right above the cluster): tells the request's tap record its route,
 * cluster and endpoint. The cluster appends the endpoint it picks to the request's kTriedEndpoints
 * list (the retry layer's, or one made here), which is how it is learnt without touching the cluster.
 */
export const tapUpstream: AttemptLayerFactory = (route, cluster, env) => {
  if (env.tap === undefined) return undefined;
  const svc = cluster.config.service;
  const ids = cluster.config.mtls?.identities ?? [];
  const up: Upstream = {
    service: svc === undefined ? undefined : `${svc.name}.${svc.namespace}`,
    // With several service accounts behind a service, which one answered is not known here.
    identity: ids.length === 1 ? ids[0] : undefined,
    tls: cluster.config.mtls !== undefined && env.meshTls !== undefined,
    cluster,
  };
  return (next: Dispatch): Dispatch =>
    (req, body, handler) => {
      const ex = (req as Tagged)[kTap];
      if (ex === undefined) return next(req, body, handler);
      ex.attempt(route.name, up);
      let tried = (req as TriedEndpoints)[kTriedEndpoints];
      let r: ProxyRequest = req;
      if (tried === undefined) {
        tried = [];
        const marked: ProxyRequest & TriedEndpoints = { ...req, [kTriedEndpoints]: tried };
        r = marked;
      }
      const at = tried.length;
      const cancel = next(r, body, handler);
      ex.picked(cluster, tried[at]);
      ex.sendRequest();
      return cancel;
    };
};
