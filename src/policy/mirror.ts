// Traffic mirroring (Istio's mirror/mirrors + mirrorPercentage, Envoy's request_mirror_policies):
// for `percent` of requests a copy goes to the mirror cluster, fire-and-forget.
// - The copy's authority gets Envoy's `-shadow` suffix (reviews:9080 → reviews-shadow:9080), so
//   the mirror can tell shadow traffic apart.
// - Its response is read and dropped; its failures (errors, resets, hangs) never reach the client.
// - The request body is teed (body-tee.ts): the main request drives the flow, a mirror more than
//   MIRROR_BUFFER_LIMIT bytes behind is aborted.
// - A mirror still running MIRROR_GRACE_MS after the main exchange ended (or the client left) is
//   cancelled, so a hanging mirror cannot pile up requests.
// The copy goes straight to the mirror cluster: no retries, no route metrics, no route timeout.
import type { ProxyError } from '../errors.ts';
import type { Series } from '../metrics/policy-stats.ts';
import type { ClusterRuntime } from '../proxy/cluster.ts';
import type { RequestLayerFactory } from '../proxy/route-runtime.ts';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  Layer,
  ProxyRequest,
  RequestBody,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { BodyTee, MIRROR_BUFFER_LIMIT, type MirrorBranch } from './body-tee.ts';
import { ForwardingHandler } from './forwarding-handler.ts';
import { sampled } from './percent.ts';

/** How long a mirror may outlive its main exchange. */
export const MIRROR_GRACE_MS = 3_000;

interface MirrorTarget {
  cluster: ClusterRuntime;
  percent: number;
  mirrored: Series;
}

/** host[:port] → host-shadow[:port] (Envoy's shadow host). */
export function shadowAuthority(authority: string): string {
  let colon: number;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    colon = close >= 0 && authority.charCodeAt(close + 1) === 58 ? close + 1 : -1;
  } else colon = authority.lastIndexOf(':');
  return colon < 0 ? `${authority}-shadow` : `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
}

/** One mirrored copy: discards the response, and is cancelled when it overstays. */
class ShadowExchange implements ResponseHandler {
  cancel: Cancel | null = null;
  branch: MirrorBranch | null = null;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private controller: ResponseController | null = null;

  onResponseStart(_status: number, _headers: HeaderList, controller: ResponseController): void {
    this.controller = controller;
  }

  onResponseData(): boolean {
    return true; // read as fast as it comes, dropped
  }

  onResponseEnd(): void {
    this.finish();
  }

  onResponseError(_err: ProxyError): void {
    this.finish();
  }

  /** The main exchange is over: the mirror gets a grace period, then is cancelled. */
  mainDone(): void {
    if (this.done || this.timer !== undefined) return;
    this.timer = setTimeout(abortShadow, MIRROR_GRACE_MS, this);
    this.timer.unref();
  }

  abort(reason: Error): void {
    if (this.done) return;
    this.finish();
    const cancel = this.cancel;
    this.cancel = null;
    if (cancel !== null) cancel(reason);
    else this.controller?.abort(reason);
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.branch?.drop();
    this.branch = null;
  }
}

function abortShadow(s: ShadowExchange): void {
  s.abort(new Error('mirror outlived the main request'));
}

/** Passes the main response on and, once it is over, starts the mirrors' grace periods. */
class MainExchange extends ForwardingHandler {
  private readonly shadows: ShadowExchange[];

  constructor(next: ResponseHandler, shadows: ShadowExchange[]) {
    super(next);
    this.shadows = shadows;
  }

  over(): void {
    for (const s of this.shadows) s.mainDone();
  }

  override onResponseEnd(trailers: HeaderList | null): void {
    this.next.onResponseEnd(trailers);
    this.over();
  }

  override onResponseError(err: ProxyError): void {
    this.next.onResponseError(err);
    this.over();
  }
}

function mirrored(
  next: Dispatch,
  req: ProxyRequest,
  body: RequestBody | null,
  handler: ResponseHandler,
  targets: MirrorTarget[],
): Cancel {
  const tee = body === null ? null : new BodyTee(body);
  const shadows: ShadowExchange[] = [];
  for (let i = 0; i < targets.length; i++) {
    const s = new ShadowExchange();
    // Branches exist before the main request runs: it may pipe (and read) the body at once.
    if (tee !== null) s.branch = tee.branch(MIRROR_BUFFER_LIMIT, () => abortShadow(s));
    shadows.push(s);
  }
  const main = new MainExchange(handler, shadows);
  const cancelMain = next(req, tee, main);
  // Its own header list: layers below the main request may change the main one in place.
  const copy: ProxyRequest = {
    ...req,
    authority: shadowAuthority(req.authority),
    headers: req.headers.slice(),
    expectContinue: false,
  };
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    const s = shadows[i]!;
    t.mirrored.value++;
    try {
      s.cancel = t.cluster.dispatch(copy, s.branch, s);
    } catch {
      // A mirror's failure is never the client's: drop the copy.
      s.abort(new Error('mirror dispatch failed'));
    }
  }
  return (reason) => {
    cancelMain(reason);
    main.over();
  };
}

export const mirrorLayer: RequestLayerFactory = (route, env) => {
  const targets: MirrorTarget[] = [];
  for (const m of route.config.mirrors ?? []) {
    const cluster = env.clusters.get(m.cluster);
    // Unknown clusters are refused when the config is loaded; a percent of 0 mirrors nothing.
    if (cluster === undefined || m.percent <= 0) continue;
    const series = env.stats.policy.mirrored.series({ route: route.name, cluster: m.cluster });
    targets.push({ cluster, percent: m.percent, mirrored: series });
  }
  if (targets.length === 0) return undefined;
  const all = targets.every((t) => t.percent >= 100) ? targets : null;
  const layer: Layer = (next: Dispatch): Dispatch => {
    return (req, body, handler) => {
      let chosen = all;
      if (chosen === null) {
        for (const t of targets) if (sampled(t.percent)) (chosen ??= []).push(t);
        if (chosen === null) return next(req, body, handler);
      }
      return mirrored(next, req, body, handler, chosen);
    };
  };
  return layer;
};
