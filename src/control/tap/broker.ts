// The control plane's side of live tap: one session per `POST /api/v1/tap`. A session sends
// tap-start to every connected proxy of its target (and to those that connect while it runs),
// writes what they report to the caller as NDJSON, and sends tap-stop when the caller goes away or
// its duration ends. It protects the control plane as the proxies protect the data path: a global
// cap on sessions, a cap on events per second per session, and events dropped (and counted)
// rather than queued for a caller that reads slower than they come.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { TapEvent, type TapEventLine, type TapFilter, type TapLine, type TapParty } from '../../tap/event.ts';
import { ApiError } from '../errors.ts';
import type { MeshView } from '../mesh-view.ts';
import type { WorkloadRegistration } from '../protocol.ts';
import type { ConnectedProxy, StreamHooks } from '../stream-hooks.ts';
import type { TapEventsMessage } from './messages.ts';
import { resolveTarget, type ResolvedTarget, type TapTarget } from './target.ts';

export interface TapBrokerOptions {
  /** Sessions running at once on this replica; more are refused (429). */
  maxSessions: number;
  /** Events one session writes per second at most (a token bucket); the rest are dropped. */
  maxEventsPerSecond: number;
  /** Bytes waiting to be written to a caller past which its events are dropped. */
  maxBacklogBytes: number;
  /** How often a `dropped` note is written (when something was dropped). */
  noteMs: number;
  /** How often a `heartbeat` line is written: it keeps idle streams open through proxies and clients. */
  heartbeatMs: number;
}

export const DEFAULT_TAP_BROKER: TapBrokerOptions = {
  maxSessions: 16,
  maxEventsPerSecond: 5000,
  maxBacklogBytes: 4 * 1024 * 1024,
  noteMs: 1000,
  heartbeatMs: 15_000,
};

export interface TapRequest {
  target: TapTarget;
  /** With `to`, direction outbound: the target's calls to that service (`name.namespace`). */
  filter: TapFilter & { direction: 'inbound' | 'outbound' };
  maxRps: number;
  headers: boolean;
  bodyBytes: number;
  /** Stop after this long; undefined: when the caller goes away. */
  durationMs?: number | undefined;
}

export const TapLimitError = (max: number): ApiError =>
  new ApiError(
    'TRELLIS_TAP_LIMIT',
    429,
    `${max} tap sessions are already running on this control plane (the most it allows); stop one or try again later`,
  );

/** `app-version`, as proxies and metrics name a workload. */
function workloadName(reg: WorkloadRegistration): string | undefined {
  const { app, version } = reg.labels;
  return app === undefined ? undefined : version === undefined ? app : `${app}-${version}`;
}

export class BrokerSession {
  readonly id = randomUUID();
  readonly request: TapRequest;
  private readonly target: ResolvedTarget;
  private readonly broker: TapBroker;
  private readonly opts: TapBrokerOptions;
  /** The proxies this session was started on, with their number in event ids. */
  private readonly proxies = new Map<ConnectedProxy, number>();
  private nextProxy = 0;
  private res: http.ServerResponse | undefined;
  private stopped = false;
  private droppedRequests = 0;
  private droppedEvents = 0;
  private tokens: number;
  private last = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(broker: TapBroker, request: TapRequest, target: ResolvedTarget, opts: TapBrokerOptions) {
    this.broker = broker;
    this.request = request;
    this.target = target;
    this.opts = opts;
    this.tokens = opts.maxEventsPerSecond;
  }

  get proxyCount(): number {
    return this.proxies.size;
  }

  /** Starts the answer and the proxies' sessions. */
  attach(res: http.ServerResponse, connected: ConnectedProxy[]): void {
    if (this.stopped) return void res.end();
    this.res = res;
    // The caller may have left while the request was being checked: its 'close' has come and gone.
    if (res.destroyed || res.socket === null || res.socket.destroyed) return this.stop();
    res.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.on('close', () => this.stop());
    const mine = connected.filter((p) => this.target.matches(p.registration));
    const { kind, namespace, name } = this.target;
    this.write({
      type: 'started',
      id: this.id,
      target: { kind, namespace, name },
      direction: this.request.filter.direction,
      proxies: mine.length,
    });
    for (const p of mine) this.startOn(p);
    const every = (ms: number, fn: () => void): void => {
      const t = setInterval(fn, ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.opts.noteMs, () => this.note());
    every(this.opts.heartbeatMs, () => this.write({ type: 'heartbeat', proxies: this.proxies.size }));
    if (this.request.durationMs !== undefined) {
      const t = setTimeout(() => this.stop(), this.request.durationMs);
      t.unref();
      this.timers.push(t);
    }
  }

  proxyConnected(p: ConnectedProxy): void {
    if (!this.stopped && this.res !== undefined && this.target.matches(p.registration)) this.startOn(p);
  }

  proxyDisconnected(p: ConnectedProxy): void {
    this.proxies.delete(p);
  }

  private startOn(p: ConnectedProxy): void {
    if (this.proxies.has(p)) return;
    this.proxies.set(p, this.nextProxy++);
    const r = this.request;
    p.send({
      type: 'tap-start',
      id: this.id,
      filter: r.filter,
      maxRps: r.maxRps,
      headers: r.headers,
      bodyBytes: r.bodyBytes,
    });
  }

  /** A batch from a proxy: only from one this session was started on. */
  events(p: ConnectedProxy, msg: TapEventsMessage): void {
    const index = this.proxies.get(p);
    const res = this.res;
    if (index === undefined || res === undefined || this.stopped) return;
    this.droppedRequests += msg.dropped;
    const reg = p.registration;
    const proxy = { name: reg.name, namespace: reg.namespace };
    const workload = workloadName(reg);
    const self: TapParty = { namespace: reg.namespace, ...(workload !== undefined ? { workload } : {}) };
    for (const raw of msg.events) {
      const parsed = TapEvent.safeParse(raw);
      if (!parsed.success || !this.admit() || res.writableLength > this.opts.maxBacklogBytes) {
        this.droppedEvents++;
        continue;
      }
      const ev = parsed.data;
      const id = `${index}:${ev.id}`;
      let line: TapEventLine;
      // The proxy's own side of a request, as the control plane knows it.
      if (ev.type !== 'req') line = { ...ev, id, proxy };
      else if (ev.direction === 'inbound')
        line = { ...ev, id, proxy, destination: { ...self, ...ev.destination } };
      else line = { ...ev, id, proxy, source: { ...self, ...ev.source } };
      this.write(line);
    }
  }

  private admit(): boolean {
    const now = performance.now();
    const rate = this.opts.maxEventsPerSecond;
    this.tokens = Math.min(rate, this.tokens + ((now - this.last) * rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private note(): void {
    if (this.droppedRequests === 0 && this.droppedEvents === 0) return;
    this.write({ type: 'dropped', requests: this.droppedRequests, events: this.droppedEvents });
    this.droppedRequests = 0;
    this.droppedEvents = 0;
  }

  private write(line: TapLine): void {
    const res = this.res;
    if (res !== undefined && !res.writableEnded && !res.destroyed) res.write(`${JSON.stringify(line)}\n`);
  }

  /** The caller left, the duration ended, or the control plane closes: stop everywhere. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const p of this.proxies.keys()) p.send({ type: 'tap-stop', id: this.id });
    this.proxies.clear();
    this.broker.forget(this);
    if (this.res !== undefined && !this.res.writableEnded) {
      this.note();
      this.res.end();
    }
  }
}

export class TapBroker {
  private readonly view: MeshView;
  private readonly streams: StreamHooks;
  private readonly opts: TapBrokerOptions;
  private readonly sessions = new Map<string, BrokerSession>();
  private readonly unlisten: () => void;

  constructor(view: MeshView, streams: StreamHooks, opts: Partial<TapBrokerOptions> = {}) {
    this.view = view;
    this.streams = streams;
    this.opts = { ...DEFAULT_TAP_BROKER, ...opts };
    this.unlisten = streams.listen({
      connected: (p) => {
        for (const s of this.sessions.values()) s.proxyConnected(p);
      },
      disconnected: (p) => {
        for (const s of this.sessions.values()) s.proxyDisconnected(p);
      },
      message: (p, msg) => {
        if (msg.type === 'tap-events') this.sessions.get(msg.id)?.events(p, msg);
      },
    });
  }

  get running(): number {
    return this.sessions.size;
  }

  /**
   * A session for `request`, counted against the cap at once; throws 404 (unknown target) or 429.
   * The caller then attaches the response it streams to (start()).
   */
  open(request: TapRequest): BrokerSession {
    const target = resolveTarget(this.view, this.streams.connectedProxies(), request.target);
    if (this.sessions.size >= this.opts.maxSessions) throw TapLimitError(this.opts.maxSessions);
    const session = new BrokerSession(this, request, target, this.opts);
    this.sessions.set(session.id, session);
    return session;
  }

  start(session: BrokerSession, res: http.ServerResponse): void {
    session.attach(res, this.streams.connectedProxies());
  }

  forget(session: BrokerSession): void {
    this.sessions.delete(session.id);
  }

  close(): void {
    for (const s of [...this.sessions.values()]) s.stop();
    this.unlisten();
  }
}
