// The push side of the control plane: one WebSocket per proxy. A proxy says hello (registering
// its workload), then gets a snapshot whenever what it would be sent changes — debounced, so a
// burst of changes costs one push — and answers ACK or NACK. Garbage on a stream closes that
// stream only.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { TrellisError } from '../errors.ts';
import { WorkloadResource } from '../resources/kinds.ts';
import { createSnapshotCompiler } from './snapshot/index.ts';
import { applyExternalServices, sidecarScope } from '../dialects/index.ts';
import { BadStreamMessageError, ProtocolMismatchError } from './errors.ts';
import type { MeshView } from './mesh-view.ts';
import { meshTelemetry, type TelemetryDefaults } from './mesh-telemetry.ts';
import { meshInterception, type InterceptionSettings } from './vip/mesh-interception.ts';
import { CloseCode, PROTOCOL_VERSION, type WorkloadRegistration } from './protocol.ts';
import { toWorkloadResource, workloadKey, type WorkloadRegistry } from './registry.ts';
import { encodeSnapshot } from './snapshot-encoder.ts';
import { DEFAULT_STATS_INTERVAL_MS } from './stats/message.ts';
import { StatsStore } from './stats/store.ts';
import { StreamHooks, streamProxy } from './stream-hooks.ts';
import { fail, isOlderVersion, parseMessage, send, type ProxyStatus, type Session } from './push-session.ts';
import { SentConfigs } from './sent-configs.ts';

export type { IssuedCertificateInfo, ProxyStatus } from './push-session.ts';
import {
  bearerToken,
  errorCode,
  spiffeIdFor,
  WrongAccountError,
  type StreamAccount,
  type StreamSecurity,
} from './stream-security.ts';

const NO_ACCOUNT: Promise<undefined> = Promise.resolve(undefined);

/** How long a push may keep the event loop before it lets other work (heartbeats, the API) run. */
const PUSH_SLICE_MS = 10;
export interface PushOptions {
  debounceMs: number;
  heartbeatMs: number;
  helloTimeoutMs: number;
  /** Snapshots written at once; the rest wait, so a push to thousands of proxies stays bounded in memory. */
  sendConcurrency: number;
  /**
   * A proxy whose socket has not taken a snapshot within this long (it stopped reading) is
   * disconnected; it reconnects and starts afresh. Without a bound, one stuck reader would hold
   * up every later push to every proxy.
   */
  sendTimeoutMs: number;
  /** Endpoints of the Telemetry providers (tracing, access-log file); see mesh-telemetry.ts. */
  telemetry?: TelemetryDefaults;
  /** How often proxies report golden metrics (default 10 s); see stats/. */
  statsIntervalMs?: number;
  /** Service virtual IPs and the outbound traffic policy, for transparent interception (vip/). */
  interception?: InterceptionSettings;
}

export class PushServer {
  private readonly view: MeshView;
  private readonly registry: WorkloadRegistry;
  private readonly opts: PushOptions;
  private readonly security: StreamSecurity | undefined;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private readonly sessions = new Set<Session>();
  /** Golden metrics the proxies of this replica report (stats/store.ts). */
  readonly stats = new StatsStore();
  /** Connected proxies and their messages, for feature modules (live tap: tap/broker.ts). */
  readonly streams = new StreamHooks();
  private timer: NodeJS.Timeout | undefined;
  private pushing: Promise<void> | undefined;
  private again = false;
  private readonly stopWatching: () => void;
  private readonly reaper: NodeJS.Timeout;
  /** Push durations, for the propagation benchmark and the logs. */
  onPushed?: (info: { revision: number; proxies: number; sent: number; ms: number }) => void;

  constructor(view: MeshView, registry: WorkloadRegistry, opts: PushOptions, security?: StreamSecurity) {
    this.security = security;
    this.view = view;
    this.registry = registry;
    this.opts = opts;
    this.stopWatching = view.onChange(() => this.schedule());
    security?.onTrustBundleChange(() => this.schedule());
    // A peer whose host vanished never closes its TCP connection: drop streams that went silent.
    // After a stall of this process (CPU starved, a long GC), the heartbeats that came meanwhile
    // are still unread when this timer runs first: skip that round instead of cutting off everyone.
    let lastReap = Date.now();
    this.reaper = setInterval(() => {
      const now = Date.now();
      const stalled = now - lastReap > 2 * opts.heartbeatMs;
      lastReap = now;
      if (stalled) return;
      const cutoff = now - 3 * opts.heartbeatMs;
      for (const s of this.sessions) if (s.lastSeen < cutoff) s.ws.terminate();
    }, opts.heartbeatMs).unref();
  }

  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Checked now, answered at hello: the proxy then learns why in a message it can log.
    const token = bearerToken(req.headers.authorization);
    const account = this.security?.authenticate(token) ?? NO_ACCOUNT;
    account.catch(() => {});
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, account, token));
  }

  private accept(
    ws: WebSocket,
    account: Promise<StreamAccount | undefined>,
    token: string | undefined,
  ): void {
    let session: Session | undefined;
    // Once refused or after a goodbye, nothing more from this stream counts: a late status must
    // not register the workload again while the stream closes.
    let finished = false;
    const refuse = (closeCode: number, err: unknown): void => {
      finished = true;
      fail(ws, closeCode, err);
    };
    const helloTimer = setTimeout(
      () => refuse(CloseCode.badMessage, BadStreamMessageError('no hello within the deadline')),
      this.opts.helloTimeoutMs,
    );
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (finished) return;
      const msg = isBinary ? undefined : parseMessage(data);
      if (msg === undefined)
        return refuse(CloseCode.badMessage, BadStreamMessageError('not a valid message'));
      if (msg.type === 'hello') {
        if (session !== undefined) return refuse(CloseCode.badMessage, BadStreamMessageError('second hello'));
        clearTimeout(helloTimer);
        if (msg.protocol !== PROTOCOL_VERSION) {
          return refuse(CloseCode.badMessage, ProtocolMismatchError(msg.protocol, PROTOCOL_VERSION));
        }
        const s: Session = {
          ws,
          id: msg.proxy.id,
          registration: msg.workload,
          scope: msg.scope,
          transparent: msg.proxy.transparent === true,
          connectedAt: new Date(),
          lastSeen: Date.now(),
          configs: new SentConfigs(),
        };
        session = s;
        void account.then(
          (acct) => {
            if (
              acct !== undefined &&
              (acct.namespace !== s.registration.namespace ||
                acct.serviceAccount !== s.registration.spec.serviceAccount)
            )
              return refuse(CloseCode.unauthorized, WrongAccountError(acct, s.registration));
            return this.registry.register(msg.workload).then(
              () => {
                if (ws.readyState !== ws.OPEN) return;
                this.sessions.add(s);
                const sec = this.security;
                const identity =
                  sec === undefined
                    ? undefined
                    : spiffeIdFor(
                        sec.trustDomain,
                        s.registration.namespace,
                        s.registration.spec.serviceAccount,
                      );
                send(ws, {
                  type: 'welcome',
                  heartbeatMs: this.opts.heartbeatMs,
                  ...(identity ? { identity } : {}),
                });
                const intervalMs = this.opts.statsIntervalMs ?? DEFAULT_STATS_INTERVAL_MS;
                send(ws, { type: 'stats-config', intervalMs });
                send(ws, { type: 'report-ejections' }); // stats/message.ts: asked, never assumed
                this.schedule(0);
                s.proxy = streamProxy(ws, s.id, s.registration);
                this.streams.connected(s.proxy);
              },
              (err: unknown) => refuse(CloseCode.refused, err),
            );
          },
          (err: unknown) => refuse(CloseCode.unauthorized, err),
        );
        return;
      }
      if (session === undefined) return refuse(CloseCode.badMessage, BadStreamMessageError('hello first'));
      session.lastSeen = Date.now();
      const { namespace, name } = session.registration;
      switch (msg.type) {
        case 'ack':
          session.acked = msg.version;
          session.configs.acked(msg.version);
          // Taking this version or a later one makes an earlier rejection history (not REJECTED forever).
          if (session.nacked !== undefined && !isOlderVersion(msg.version, session.nacked.version))
            session.nacked = undefined;
          break;
        case 'nack':
          session.nacked = { version: msg.version, error: msg.error };
          break;
        case 'status':
          if (msg.time !== undefined) session.clockSkewMs = msg.time - Date.now();
          void this.registry
            .heartbeat(session.registration, msg.ready)
            .catch((err: unknown) => refuse(CloseCode.refused, err));
          break;
        case 'csr':
          if (this.sessions.has(session)) void this.issue(ws, session, msg.id, msg.csr, token);
          break;
        case 'stats':
          if (this.sessions.has(session)) {
            const { name: proxyName, spec } = session.registration;
            this.stats.ingest(session, { name: proxyName, namespace, service: spec.service }, msg);
          }
          break;
        case 'tap-events':
          if (session.proxy !== undefined) this.streams.message(session.proxy, msg);
          break;
        case 'bye':
          finished = true;
          this.sessions.delete(session);
          void this.registry.deregister(namespace, name).catch(() => {});
          ws.close(1000);
          break;
      }
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      if (session !== undefined) {
        this.sessions.delete(session);
        this.stats.endStream(session);
        if (session.proxy !== undefined) this.streams.disconnected(session.proxy);
      }
    });
    ws.on('error', () => ws.terminate());
  }

  /** Signs a CSR for the session's own SPIFFE ID, after checking its token again (revocation). */
  private async issue(
    ws: WebSocket,
    s: Session,
    id: number,
    csr: string,
    token: string | undefined,
  ): Promise<void> {
    const sec = this.security;
    try {
      if (sec === undefined)
        throw new TrellisError('TRELLIS_CA_DISABLED', 'this control plane runs without a CA');
      await sec.authenticate(token);
      const spiffeId = spiffeIdFor(
        sec.trustDomain,
        s.registration.namespace,
        s.registration.spec.serviceAccount,
      );
      const { certChainPem, notAfter, serial } = await sec.sign(csr, spiffeId);
      s.certificate = {
        spiffeId,
        serial,
        issuedAt: new Date().toISOString(),
        notAfter: notAfter.toISOString(),
        chain: certChainPem,
      };
      if (ws.readyState === ws.OPEN)
        send(ws, { type: 'certificate', id, certChain: certChainPem, trustBundle: sec.trustBundle() });
    } catch (err) {
      if (ws.readyState === ws.OPEN) send(ws, { type: 'csr-error', id, ...errorCode(err) });
    }
  }

  /** Debounced: many changes close together make one push. */
  schedule(delayMs = this.opts.debounceMs): void {
    if (this.pushing !== undefined) {
      this.again = true;
      return;
    }
    if (this.timer !== undefined && delayMs > 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pushing = this.pushAll().finally(() => {
        this.pushing = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
    }, delayMs);
  }

  private async pushAll(): Promise<void> {
    const started = performance.now();
    const revision = this.view.revision;
    const version = String(revision);
    const sec = this.security;
    const compiler = createSnapshotCompiler(
      this.view.state(),
      sec?.meshSecurity(this.view),
      meshTelemetry(this.view, this.opts.telemetry),
      meshInterception(this.opts.interception, this.view.lowering()),
    );
    // Istio Sidecar scopes and ServiceEntry hosts/endpoints (src/dialects): what the model lacks.
    const { scopes, externals } = this.view.lowering();
    const queue = [...this.sessions];
    let sent = 0;
    let lastYield = performance.now();
    const worker = async (): Promise<void> => {
      for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
        // A write the kernel takes at once completes on the tick queue, so a push to thousands of
        // proxies would otherwise run in one go: heartbeats unread, API and reaper starved.
        if (performance.now() - lastYield > PUSH_SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = performance.now();
        }
        if (s.ws.readyState !== s.ws.OPEN) continue;
        const target = this.targetOf(s.registration);
        const scope = s.scope ?? sidecarScope(target, scopes);
        const config = applyExternalServices(
          compiler.compile({ workload: target }, { version, scope, transparent: s.transparent }),
          externals,
        );
        const encoded = encodeSnapshot(version, config);
        if (encoded.fingerprint === s.fingerprint) continue;
        s.fingerprint = encoded.fingerprint;
        s.sent = version;
        s.configs.sent(version, config);
        sent++;
        await this.sendWithin(s, encoded.segments());
      }
    };
    await Promise.all(Array.from({ length: this.opts.sendConcurrency }, worker));
    this.onPushed?.({ revision, proxies: this.sessions.size, sent, ms: performance.now() - started });
  }

  /** Resolves when the snapshot is on the socket, or after sendTimeoutMs with the session cut off. */
  private sendWithin(s: Session, segments: Buffer[]): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        s.ws.terminate();
        resolve();
      }, this.opts.sendTimeoutMs);
      // One text message in fragments, written in this tick so nothing comes between them: the
      // big segments are shared by every proxy's snapshot and go to each socket without a copy.
      const last = segments.length - 1;
      for (let i = 0; i < last; i++) s.ws.send(segments[i]!, { binary: false, fin: false });
      s.ws.send(segments[last] ?? Buffer.alloc(0), { binary: false, fin: true }, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The proxy's own workload as the store has it (with readiness), else as it registered. */
  private targetOf(reg: WorkloadRegistration): WorkloadResource {
    const stored = this.view.get(workloadKey(reg.namespace, reg.name));
    if (stored?.kind === 'Workload') return stored;
    return WorkloadResource.parse(toWorkloadResource(reg));
  }

  /** The configs of proxy `id` (api-proxy-config.ts); its newest stream when it has two. */
  configsOf(id: string): SentConfigs | undefined {
    let found: SentConfigs | undefined;
    for (const s of this.sessions) if (s.id === id) found = s.configs;
    return found;
  }

  status(): ProxyStatus[] {
    return [...this.sessions]
      .map((s) => ({
        id: s.id,
        workload: s.registration.name,
        namespace: s.registration.namespace,
        connectedAt: s.connectedAt.toISOString(),
        sent: s.sent,
        acked: s.acked,
        nacked: s.nacked,
        certificate: s.certificate,
        clockSkewMs: s.clockSkewMs,
      }))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.workload.localeCompare(b.workload));
  }

  /** Every proxy renews its certificate now (after a root rotation), spread over `spreadMs`. */
  requestRenewals(spreadMs = 2000): void {
    for (const s of this.sessions) {
      const t = setTimeout(() => {
        if (s.ws.readyState === s.ws.OPEN) send(s.ws, { type: 'renew' });
      }, Math.random() * spreadMs);
      t.unref();
    }
  }

  async close(): Promise<void> {
    this.stopWatching();
    clearInterval(this.reaper);
    clearTimeout(this.timer);
    for (const s of this.sessions) s.ws.close(CloseCode.shuttingDown, 'control plane shutting down');
    for (const ws of this.wss.clients) ws.terminate();
    this.sessions.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
