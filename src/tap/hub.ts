// The proxy's tap hub: the tap sessions in force, one hub per ProxyServer (so sessions outlive
// config reloads). The stacks' tap layer reads `active`, a plain boolean, on every request: a
// proxy nobody taps pays one property read. Each session rate-limits itself (token bucket at its
// maxRps; requests past it are skipped and counted) and batches its events to a sink (every
// flushMs, or sooner when a batch is full).
import type { ProxyRequest } from '../proxy/types.ts';
import {
  DEFAULT_TAP_RPS,
  MAX_TAP_BATCH,
  MAX_TAP_BODY_BYTES,
  MAX_TAP_RPS,
  type TapDirection,
  type TapEvent,
  type TapFilter,
} from './event.ts';

export interface TapSpec {
  id: string;
  filter: TapFilter;
  maxRps?: number | undefined;
  /** Report request and response headers (credentials redacted). */
  headers?: boolean | undefined;
  /** Report the first bytes of request and response bodies; 0: none. */
  bodyBytes?: number | undefined;
}

export interface TapBatch {
  id: string;
  events: TapEvent[];
  /** Requests skipped since the previous batch (rate limit, or a batch the sink could not take). */
  dropped: number;
}

/** Takes a batch; false when it cannot (stream down or backed up): its requests count as dropped. */
export type TapBatchSink = (batch: TapBatch) => boolean;

export interface TapHubOptions {
  /** Clock in ms (default performance.now); tests drive the token bucket with their own. */
  now?: () => number;
  flushMs?: number;
  /** A batch is sent once it holds this many events, or about this many bytes. */
  maxBatch?: number;
  maxBatchBytes?: number;
}

const DEFAULT_FLUSH_MS = 100;
const DEFAULT_BATCH_BYTES = 256 * 1024;

/** One tap session on this proxy. */
export class TapSession {
  readonly id: string;
  readonly filter: TapFilter;
  readonly headers: boolean;
  readonly bodyBytes: number;
  /** Set at stop: events of requests still in flight are discarded. */
  stopped = false;
  private readonly rate: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;
  private readonly sink: TapBatchSink;
  private readonly maxBatch: number;
  private readonly maxBatchBytes: number;
  private readonly authority: string | undefined;
  private readonly authorityHasPort: boolean;
  private buffer: TapEvent[] = [];
  private bufferBytes = 0;
  private dropped = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(spec: TapSpec, sink: TapBatchSink, opts: TapHubOptions) {
    this.id = spec.id;
    this.filter = spec.filter;
    this.headers = spec.headers === true;
    this.bodyBytes = Math.max(0, Math.min(MAX_TAP_BODY_BYTES, Math.floor(spec.bodyBytes ?? 0)));
    this.rate = Math.max(1, Math.min(MAX_TAP_RPS, Math.floor(spec.maxRps ?? DEFAULT_TAP_RPS)));
    this.now = opts.now ?? (() => performance.now());
    this.tokens = this.rate; // a burst of one second's worth
    this.last = this.now();
    this.sink = sink;
    this.maxBatch = opts.maxBatch ?? MAX_TAP_BATCH;
    this.maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_BATCH_BYTES;
    const a = spec.filter.authority?.toLowerCase();
    this.authority = a;
    this.authorityHasPort = a !== undefined && /:\d+$/.test(a);
    this.timer = setInterval(() => this.flush(), opts.flushMs ?? DEFAULT_FLUSH_MS);
    this.timer.unref();
  }

  /** The filters known at the request head (all but `to`, which needs the cluster). */
  matchesHead(direction: TapDirection, req: ProxyRequest): boolean {
    const f = this.filter;
    if (f.direction !== undefined && f.direction !== direction) return false;
    if (f.method !== undefined && f.method !== req.method) return false;
    if (f.pathPrefix !== undefined && !req.path.startsWith(f.pathPrefix)) return false;
    if (this.authority !== undefined) {
      const a = req.authority.toLowerCase();
      if (a !== this.authority && (this.authorityHasPort || hostOf(a) !== this.authority)) return false;
    }
    return true;
  }

  /** `to` given: decided when the request reaches a cluster (its service, `name.namespace`). */
  get waitsForDestination(): boolean {
    return this.filter.to !== undefined;
  }

  matchesDestination(service: string | undefined): boolean {
    return service !== undefined && service === this.filter.to;
  }

  /** Token bucket: true when this request may be reported; a refusal is counted as dropped. */
  admit(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }

  /** `size`: roughly the bytes the event takes as JSON, to keep batches small. */
  push(event: TapEvent, size: number): void {
    if (this.stopped) return;
    this.buffer.push(event);
    this.bufferBytes += size;
    if (this.buffer.length >= this.maxBatch || this.bufferBytes >= this.maxBatchBytes) this.flush();
  }

  flush(): void {
    if (this.stopped || (this.buffer.length === 0 && this.dropped === 0)) return;
    const events = this.buffer;
    const dropped = this.dropped;
    this.buffer = [];
    this.bufferBytes = 0;
    this.dropped = 0;
    if (!this.sink({ id: this.id, events, dropped })) {
      // Lost with the batch: its requests (the rest of their events go out, unmatched, later).
      this.dropped += dropped + events.filter((e) => e.type === 'req').length;
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.buffer = [];
  }
}

function hostOf(authority: string): string {
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return end < 0 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}

export class TapHub {
  /** Read per request by the tap layer: false, and the layer steps aside at once. */
  active = false;
  /** Replaced (never mutated) on change, so a request's loop over it is never disturbed. */
  sessions: readonly TapSession[] = [];
  private nextRequestId = 0;
  private readonly opts: TapHubOptions;

  constructor(opts: TapHubOptions = {}) {
    this.opts = opts;
  }

  /** Starts a session; one with the same id is replaced. */
  start(spec: TapSpec, sink: TapBatchSink): TapSession {
    this.stop(spec.id);
    const session = new TapSession(spec, sink, this.opts);
    this.sessions = [...this.sessions, session];
    this.active = true;
    return session;
  }

  stop(id: string): boolean {
    const session = this.sessions.find((s) => s.id === id);
    if (session === undefined) return false;
    session.stop();
    this.sessions = this.sessions.filter((s) => s !== session);
    this.active = this.sessions.length > 0;
    return true;
  }

  stopAll(): void {
    for (const s of this.sessions) s.stop();
    this.sessions = [];
    this.active = false;
  }

  /** A number for a tapped request, unique on this proxy. */
  requestId(): number {
    return this.nextRequestId++;
  }
}
