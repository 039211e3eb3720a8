// One tapped request (see layer.ts): passes every callback on unchanged, copying what the sessions
// asked for, and reports it to each session — `req` once the destination is known (or the request
// is answered first), `rsp` at the response head, `end` when it is over, however it ends.
import type { LbEndpoint } from '../balance/index.ts';
import type { ProxyError } from '../errors.ts';
import { grpcStatusForHttp } from '../http2/headers.ts';
import type { ClusterRuntime } from '../proxy/cluster.ts';
import { parsePeerHeader, PEER_HEADER } from '../proxy/peer-metadata.ts';
import { ObservedBody } from '../proxy/observed-body.ts';
import type {
  Cancel,
  HeaderList,
  ProxyRequest,
  ResponseController,
  ResponseHandler,
} from '../proxy/types.ts';
import { BodyPrefix, captureHeaders, clip, headersSize } from './capture.ts';
import type { TapDirection, TapEvent, TapHeaders, TapParty } from './event.ts';
import type { TapHub, TapSession } from './hub.ts';

/** What the attempt layer knows of a cluster, fixed per config. */
export interface Upstream {
  service: string | undefined;
  identity: string | undefined;
  tls: boolean;
  cluster: ClusterRuntime;
}

const workloadsOf = new WeakMap<ClusterRuntime, Map<LbEndpoint, string>>();

/** `app-version` of an endpoint, from its labels (as metrics name it). */
function endpointWorkload(cluster: ClusterRuntime, ep: LbEndpoint): string | undefined {
  let m = workloadsOf.get(cluster);
  if (m === undefined) {
    m = new Map();
    // ClusterRuntime.endpoints follows the config's endpoint order.
    const eps = cluster.config.endpoints;
    for (let i = 0; i < eps.length; i++) {
      const { app, version } = eps[i]!.labels;
      const e = cluster.endpoints[i];
      if (e !== undefined && app !== undefined) m.set(e, version === undefined ? app : `${app}-${version}`);
    }
    workloadsOf.set(cluster, m);
  }
  return m.get(ep);
}

function headerValue(headers: HeaderList | null, name: string): string | undefined {
  if (headers === null) return undefined;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

function grpcCode(v: string | undefined): number | undefined {
  const n = v === undefined ? NaN : Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

const micros = (ms: number): number => Math.max(0, Math.round(ms * 1000));

/** One tapped request: passes everything through unchanged, copying what the sessions asked for. */
export class TapExchange extends ObservedBody implements ResponseHandler {
  private readonly hub: TapHub;
  private readonly direction: TapDirection;
  private readonly req: ProxyRequest;
  private readonly next: ResponseHandler;
  private readonly id: number;
  /** Sessions reporting this request; the first `reqSent` got their `req` event. */
  private readonly accepted: TapSession[];
  private reqSent = 0;
  /** `--to` sessions, decided at the first attempt. */
  private awaiting: TapSession[];
  private readonly wantHeaders: boolean;
  private readonly reqBody: BodyPrefix;
  private readonly rspBody: BodyPrefix;
  private readonly source: TapParty;
  private readonly destination: TapParty;
  private tls: boolean;
  private route: string | undefined;
  private attempted = false;
  private status = 0;
  private grpcStatus: number | undefined;
  private rspSent = false;
  private rspHeaders: TapHeaders | undefined;
  private done = false;
  cancel: Cancel | null = null;

  constructor(
    hub: TapHub,
    direction: TapDirection,
    self: string | undefined,
    req: ProxyRequest,
    next: ResponseHandler,
    accepted: TapSession[],
    awaiting: TapSession[],
  ) {
    super();
    this.hub = hub;
    this.direction = direction;
    this.req = req;
    this.next = next;
    this.id = hub.requestId();
    this.accepted = accepted;
    this.awaiting = awaiting;
    let bodyBytes = 0;
    let headers = false;
    for (const list of [accepted, awaiting]) {
      for (const s of list) {
        bodyBytes = Math.max(bodyBytes, s.bodyBytes);
        headers ||= s.headers;
      }
    }
    this.wantHeaders = headers;
    this.reqBody = new BodyPrefix(bodyBytes);
    this.rspBody = new BodyPrefix(bodyBytes);
    const src = req.source;
    if (direction === 'inbound') {
      this.source = { address: src.address, port: src.port };
      if (src.identity !== undefined) this.source.identity = src.identity;
      // Who the caller's sidecar says it is: a label only, never trusted over the identity.
      const peer = headerValue(req.headers, PEER_HEADER);
      if (peer !== undefined) {
        const p = parsePeerHeader(peer);
        if (p.workload !== undefined) this.source.workload = p.workload;
        if (p.namespace !== undefined) this.source.namespace = clip(p.namespace, 63);
      }
      this.destination = self === undefined ? {} : { identity: self };
      this.tls = src.identity !== undefined;
    } else {
      this.source = self === undefined ? {} : { identity: self };
      this.destination = {};
      this.tls = false;
    }
  }

  protected observeRequestChunk(chunk: Buffer): void {
    this.reqBody.add(chunk);
  }

  // --- from the attempt layer ---
  /** A try meets a cluster: the destination is known, and `--to` sessions are decided. */
  attempt(route: string, up: Upstream): void {
    if (this.attempted) return;
    this.attempted = true;
    this.route = route;
    if (this.direction === 'outbound') {
      if (up.service !== undefined) this.destination.service = up.service;
      if (up.identity !== undefined) this.destination.identity = up.identity;
      this.tls = up.tls;
    }
    if (this.awaiting.length > 0) {
      for (const s of this.awaiting) if (s.matchesDestination(up.service) && s.admit()) this.accepted.push(s);
      this.awaiting = [];
    }
  }

  picked(cluster: ClusterRuntime, ep: LbEndpoint | undefined): void {
    if (ep === undefined || this.destination.address !== undefined) return;
    this.destination.address = ep.address;
    this.destination.port = ep.port;
    if (this.direction === 'outbound') {
      const workload = endpointWorkload(cluster, ep);
      if (workload !== undefined) this.destination.workload = workload;
    }
  }

  /** Sends `req` to every accepted session that has not had it. */
  sendRequest(): void {
    if (this.reqSent === this.accepted.length) return;
    const req = this.req;
    const base = {
      type: 'req' as const,
      id: this.id,
      time: Math.round(performance.timeOrigin + req.startTime),
      direction: this.direction,
      source: this.source,
      destination: this.destination,
      tls: this.tls,
      method: clip(req.method, 64),
      scheme: req.scheme,
      authority: clip(req.authority, 1024),
      path: clip(req.path, 8192),
      protocol: req.protocol,
      grpc: req.grpc,
      ...(this.route !== undefined ? { route: clip(this.route, 256) } : {}),
    };
    const size = 400 + 2 * (base.path.length + base.authority.length);
    let withHeaders: TapEvent | undefined;
    let headerBytes = 0;
    for (; this.reqSent < this.accepted.length; this.reqSent++) {
      const s = this.accepted[this.reqSent]!;
      if (!s.headers) {
        s.push(base, size);
        continue;
      }
      if (withHeaders === undefined) {
        const headers = captureHeaders(req.headers);
        headerBytes = headersSize(headers);
        withHeaders = { ...base, headers };
      }
      s.push(withHeaders, size + headerBytes);
    }
  }

  /** No cluster was reached (a local answer, or no route): `--to` sessions never match. */
  settled(): void {
    if (!this.attempted) this.awaiting = [];
    this.sendRequest();
  }

  // --- ResponseHandler ---
  onInformational(status: number, headers: HeaderList): void {
    this.next.onInformational?.(status, headers);
  }

  onResponseStart(status: number, headers: HeaderList, controller: ResponseController): void {
    this.status = status;
    this.grpcStatus = grpcCode(headerValue(headers, 'grpc-status'));
    this.settled();
    this.rspSent = true;
    const latencyUs = micros(performance.now() - this.req.startTime);
    const base = { type: 'rsp' as const, id: this.id, status, latencyUs };
    if (this.wantHeaders) this.rspHeaders = captureHeaders(headers);
    for (const s of this.accepted) {
      if (s.headers && this.rspHeaders !== undefined)
        s.push({ ...base, headers: this.rspHeaders }, 100 + headersSize(this.rspHeaders));
      else s.push(base, 100);
    }
    this.next.onResponseStart(status, headers, controller);
  }

  onResponseData(chunk: Buffer): boolean {
    this.rspBody.add(chunk);
    return this.next.onResponseData(chunk);
  }

  onResponseEnd(trailers: HeaderList | null): void {
    this.grpcStatus = grpcCode(headerValue(trailers, 'grpc-status')) ?? this.grpcStatus;
    this.next.onResponseEnd(trailers);
    this.finish(undefined, trailers);
  }

  onResponseError(err: ProxyError): void {
    if (this.status === 0) {
      // What the downstream adapters answer: gRPC over HTTP/2 in a trailers-only 200, else the error's status.
      if (this.req.grpc && this.req.protocol === 'http2') {
        this.status = 200;
        this.grpcStatus = grpcStatusForHttp(err.status);
      } else this.status = err.status;
    }
    this.next.onResponseError(err);
    this.finish(err.code, null);
  }

  /** The client went away (499 when it got nothing), then cancel below. */
  readonly abort: Cancel = (reason) => {
    if (this.status === 0) this.status = 499;
    this.finish('TRELLIS_DOWNSTREAM_RESET', null);
    const cancel = this.cancel;
    this.cancel = null;
    cancel?.(reason);
  };

  private finish(error: string | undefined, trailers: HeaderList | null): void {
    if (this.done) return;
    this.done = true;
    this.settled();
    const base = {
      type: 'end' as const,
      id: this.id,
      status: this.status,
      ...(this.grpcStatus !== undefined ? { grpcStatus: this.grpcStatus } : {}),
      ...(error !== undefined ? { error } : {}),
      durationUs: micros(performance.now() - this.req.startTime),
      requestBytes: this.reqBody.total,
      responseBytes: this.rspBody.total,
    };
    const trailerFields = this.wantHeaders && trailers !== null ? captureHeaders(trailers) : undefined;
    for (const s of this.accepted) {
      if (!s.headers && s.bodyBytes === 0) {
        s.push(base, 200);
        continue;
      }
      const requestBody = this.reqBody.body(s.bodyBytes);
      const responseBody = this.rspBody.body(s.bodyBytes);
      const trailersOut = s.headers && trailerFields !== undefined ? trailerFields : undefined;
      s.push(
        {
          ...base,
          ...(requestBody !== undefined ? { requestBody } : {}),
          ...(responseBody !== undefined ? { responseBody } : {}),
          ...(trailersOut !== undefined ? { trailers: trailersOut } : {}),
        },
        200 +
          Math.ceil(((requestBody?.base64.length ?? 0) + (responseBody?.base64.length ?? 0)) * 1.05) +
          headersSize(trailersOut),
      );
    }
  }
}
