// The access log in the stacks: a listener layer that follows each request to its end (answer,
// proxy error, or the client leaving) and writes one line, and an attempt layer that tells it
// which route, cluster and endpoint the request went to. Neither exists unless the config turns
// access logs on, so a proxy without them pays nothing.
import type { ProxyError } from '../errors.ts';
import { grpcStatusForHttp } from '../http2/headers.ts';
import { kTriedEndpoints, type ClusterRuntime, type TriedEndpoints } from '../proxy/cluster.ts';
import type { StackEnv } from '../proxy/forward.ts';
import type { AttemptLayerFactory } from '../proxy/route-runtime.ts';
import { ObservedBody } from '../proxy/observed-body.ts';
import type {
  Cancel,
  Dispatch,
  HeaderList,
  Layer,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import {
  addCodeFlags,
  headerValue,
  pathOnly,
  requestHeaderFields,
  roundMs,
  type AccessLogFlag,
} from './entry.ts';
import type { AccessLogSink } from './sink.ts';

/** The request's log record, carried on the request (object spreads copy symbol keys). */
const kAccessLog = Symbol('trellis.accessLog');
type Tagged = ProxyRequest & { [kAccessLog]?: AccessLogExchange };

/** What a listener's access log needs, fixed per config. */
interface ListenerLog {
  sink: AccessLogSink;
  direction: 'inbound' | 'outbound';
  listener: string;
  /** This workload's SPIFFE ID: the source of outbound requests, the destination of inbound ones. */
  self: string | undefined;
  clusters: ReadonlyMap<string, ClusterRuntime>;
}

/**
 * One request, from the listener's point of view: passes everything through, counts the bytes
 * both ways (it is also the request body's reader), and writes the line when the request ends.
 */
class AccessLogExchange extends ObservedBody implements ResponseHandler {
  private readonly log: ListenerLog;
  private readonly req: ProxyRequest;
  private readonly next: ResponseHandler;
  private status = 0;
  private grpcStatus: string | undefined;
  private headAt = 0;
  private code: string | undefined;
  private flags: AccessLogFlag[] = [];
  private bytesReceived = 0;
  private bytesSent = 0;
  private done = false;
  // Filled by the attempt layer when the request reaches a cluster.
  route: string | undefined;
  cluster: string | undefined;
  endpoint: string | undefined;
  destinationIdentity: string | undefined;
  tries = 0;
  /** The exchange below; set right after dispatch. */
  cancel: Cancel | null = null;

  constructor(log: ListenerLog, req: ProxyRequest, next: ResponseHandler) {
    super();
    this.log = log;
    this.req = req;
    this.next = next;
  }

  protected observeRequestChunk(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
  }

  // --- ResponseHandler ---
  onInformational(status: number, headers: HeaderList): void {
    this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.status = status;
    this.headAt = performance.now();
    this.grpcStatus = headerValue(headers, 'grpc-status');
    // An answer the proxy made itself (a request layer's local reply) names its reason; one from
    // upstream may carry another proxy's reason, which is not this hop's.
    if (this.tries === 0) {
      const code = headerValue(headers, 'x-trellis-error');
      if (code !== undefined) this.failed(code);
    }
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    this.bytesSent += chunk.length;
    return this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    this.grpcStatus = headerValue(trailers, 'grpc-status') ?? this.grpcStatus;
    this.next.onResponseEnd(trailers);
    this.finish();
  }

  onResponseError(err: ProxyError): void {
    this.failed(err.code);
    if (this.status === 0) {
      // What the downstream adapters answer: gRPC over HTTP/2 in a trailers-only 200, else the
      // error's status with its message as a text body.
      if (this.req.grpc && this.req.protocol === 'http2') {
        this.status = 200;
        this.grpcStatus = String(grpcStatusForHttp(err.status));
      } else {
        this.status = err.status;
        if (this.req.method !== 'HEAD') this.bytesSent += Buffer.byteLength(err.message) + 1;
      }
    } else if (!this.flags.includes('upstream_reset') && !this.flags.includes('downstream_reset')) {
      // The head was sent: the client sees its stream cut short.
      this.flags.push('upstream_reset');
    }
    this.next.onResponseError(err);
    this.finish();
  }

  /** The client went away: log what it got so far (499 when it got nothing), then cancel below. */
  readonly abort: Cancel = (reason) => {
    if (!this.done) {
      this.failed('TRELLIS_DOWNSTREAM_RESET');
      if (this.status === 0) this.status = 499;
      this.finish();
    }
    const cancel = this.cancel;
    this.cancel = null;
    cancel?.(reason);
  };

  private failed(code: string): void {
    this.code ??= code;
    addCodeFlags(this.flags, code);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    const req = this.req;
    const log = this.log;
    const end = performance.now();
    const flags = this.flags;
    if (this.tries > 1) flags.unshift('retried');
    if (flags.includes('no_healthy_upstream') && this.clusterHasEjections()) flags.push('ejected');
    const fromHeaders = requestHeaderFields(req.headers);
    const inbound = log.direction === 'inbound';
    const grpcStatus = this.grpcStatus === undefined ? undefined : Number(this.grpcStatus);
    log.sink.write({
      time: new Date(performance.timeOrigin + req.startTime).toISOString(),
      traceId: fromHeaders.traceId,
      requestId: fromHeaders.requestId,
      direction: log.direction,
      listener: log.listener,
      route: this.route,
      source: {
        address: req.source.address,
        port: req.source.port,
        identity: inbound ? req.source.identity : log.self,
      },
      destination: {
        cluster: this.cluster,
        endpoint: this.endpoint,
        identity: inbound ? log.self : this.destinationIdentity,
      },
      method: req.method,
      authority: req.authority,
      path: pathOnly(req.path),
      protocol: req.protocol,
      status: this.status,
      grpcStatus: Number.isInteger(grpcStatus) ? grpcStatus : undefined,
      flags,
      error: this.code,
      attempts: this.tries > 1 ? this.tries : undefined,
      durationMs: roundMs(end - req.startTime),
      upstreamMs: this.tries > 0 && this.headAt > 0 ? roundMs(this.headAt - req.startTime) : undefined,
      bytesReceived: this.bytesReceived,
      bytesSent: this.bytesSent,
      userAgent: fromHeaders.userAgent,
    });
  }

  private clusterHasEjections(): boolean {
    const cluster = this.cluster === undefined ? undefined : this.log.clusters.get(this.cluster);
    return cluster !== undefined && cluster.endpoints.some((ep) => ep.ejected);
  }
}

/** The listener layer: first in the stack, so that every answer (401, 403, 404 included) is logged. */
export function accessLogLayer(env: StackEnv): Layer | undefined {
  const sink = env.accessLog;
  if (sink === undefined) return undefined;
  const log: ListenerLog = {
    sink,
    direction: env.direction,
    listener: env.listener,
    self: env.meshTls?.spiffeId,
    clusters: env.clusters,
  };
  return (next: Dispatch): Dispatch =>
    (req, body, handler) => {
      const ex = new AccessLogExchange(log, req, handler);
      const tagged: Tagged = { ...req, [kAccessLog]: ex };
      ex.cancel = next(tagged, ex.wrap(body), ex);
      return ex.abort;
    };
}

/**
 * The last attempt layer (right above the cluster): each try tells the request's log record its
 * route, cluster and the endpoint the cluster picked (the last try's, when there were several).
 * The cluster appends the endpoint it picks to the request's kTriedEndpoints list (the retry
 * layer's, or one made here), which is how it is learnt without touching the cluster.
 */
export const accessLogUpstream: AttemptLayerFactory = (route, cluster, env) => {
  if (env.accessLog === undefined) return undefined;
  const ids = cluster.config.mtls?.identities ?? [];
  const identity = ids.length === 1 ? ids[0] : undefined;
  return (next: Dispatch): Dispatch =>
    (req, body, handler) => {
      const ex = (req as Tagged)[kAccessLog];
      if (ex === undefined) return next(req, body, handler);
      ex.route = route.name;
      ex.cluster = cluster.name;
      ex.destinationIdentity = identity;
      ex.tries++;
      let tried = (req as TriedEndpoints)[kTriedEndpoints];
      let r: ProxyRequest = req;
      if (tried === undefined) {
        tried = [];
        const marked: ProxyRequest & TriedEndpoints = { ...req, [kTriedEndpoints]: tried };
        r = marked;
      }
      const at = tried.length;
      const cancel = next(r, body, handler);
      const ep = tried[at];
      if (ep !== undefined)
        ex.endpoint = ep.address.includes(':') ? `[${ep.address}]:${ep.port}` : `${ep.address}:${ep.port}`;
      return cancel;
    };
};
