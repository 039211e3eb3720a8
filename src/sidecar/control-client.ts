// The sidecar's end of the push stream. It registers the workload, applies each snapshot through
// `apply` (ACK when it took, NACK with the reason when it did not — the old config stays), sends
// the app's readiness as a heartbeat, and when the control plane goes away keeps serving what it
// has and reconnects with jittered exponential backoff (static stability).
import WebSocket from 'ws';
import {
  ServerMessage,
  PROTOCOL_VERSION,
  STREAM_PATH,
  type ClientMessage,
  type WorkloadRegistration,
} from '../control/protocol.ts';
import type { StatsReporter } from './stats-reporter.ts';
import type { TapAgent } from './tap-agent.ts';

export interface ControlClientOptions {
  /** Control-plane base URLs (http://host:port); tried in turn, so a replica can be down. */
  urls: string[];
  proxyId: string;
  workload: () => WorkloadRegistration;
  scope?: string[] | undefined;
  /** Transparent mode: ask for interception parts and mesh DNS in snapshots. */
  transparent?: boolean | undefined;
  /** Applies a snapshot; throws to NACK it. */
  apply: (config: unknown, version: string) => Promise<void>;
  ready: () => boolean;
  onEvent?: (event: ControlEvent) => void;
  backoff?: { initialMs: number; maxMs: number };
  /** Sent as `Authorization: Bearer` on the stream: proves the workload's service account. */
  joinToken?: string | undefined;
  /** How long a certificate request may wait for its answer (default 10 s). */
  csrTimeoutMs?: number;
  /** Sends golden-metrics reports when the control plane asks for them (`stats-config`). */
  stats?: StatsReporter | undefined;
  /** Runs the live tap sessions the control plane starts (`tap-start`, `tap-stop`). */
  tap?: TapAgent | undefined;
}

export interface IssuedCertificate {
  certChainPem: string;
  trustBundlePem: string;
}

/** A certificate request the control plane could not serve (or the stream went away). */
export class CertificateRequestError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type ControlEvent =
  | { type: 'connected'; url: string; identity: string | undefined }
  | { type: 'disconnected'; url: string; reason: string; retryInMs: number }
  | { type: 'applied'; version: string }
  | { type: 'rejected'; version: string; error: string }
  | { type: 'refused'; code: string; message: string }
  | { type: 'renew' };

export class ControlClient {
  private readonly opts: ControlClientOptions;
  private ws: WebSocket | undefined;
  private attempt = 0;
  private urlIndex = 0;
  private stopped = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private lastReady: boolean | undefined;
  /** When the control plane was last heard from (any message, or a pong). */
  private lastHeard = 0;
  private applying: Promise<void> = Promise.resolve();
  /** The version in force; survives reconnects. */
  version: string | undefined;
  private firstResolve: (() => void) | undefined;
  /** Resolves once the first snapshot has been applied. */
  readonly firstSnapshot: Promise<void>;
  /** The SPIFFE ID the control plane said this proxy may hold (from the last welcome). */
  identity: string | undefined;
  private nextCsrId = 1;
  private readonly pendingCsrs = new Map<
    number,
    { resolve: (c: IssuedCertificate) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(opts: ControlClientOptions) {
    this.opts = opts;
    this.firstSnapshot = new Promise((resolve) => (this.firstResolve = resolve));
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const base = this.opts.urls[this.urlIndex % this.opts.urls.length] ?? '';
    const url = new URL(STREAM_PATH, base.replace(/^http/, 'ws')).toString();
    const token = this.opts.joinToken;
    const ws = new WebSocket(url, {
      handshakeTimeout: 5000,
      maxPayload: 256 * 1024 * 1024,
      ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
    this.ws = ws;
    ws.on('open', () => {
      this.sendMsg({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        proxy: {
          id: this.opts.proxyId,
          trellis: '0.1.0',
          ...(this.opts.transparent === true ? { transparent: true } : {}),
        },
        workload: this.opts.workload(),
        ...(this.opts.scope !== undefined ? { scope: this.opts.scope } : {}),
      });
    });
    ws.on('pong', () => (this.lastHeard = Date.now()));
    ws.on('message', (data, isBinary) => {
      this.lastHeard = Date.now();
      if (isBinary) return;
      this.onMessage(data.toString());
    });
    ws.on('close', (code, reason) => this.onClose(base, `${code} ${reason.toString()}`.trim()));
    ws.on('error', () => {
      /* 'close' follows and carries the retry */
    });
  }

  private onMessage(text: string): void {
    let msg: ServerMessage;
    try {
      msg = ServerMessage.parse(JSON.parse(text));
    } catch {
      return; // a newer control plane may send kinds this proxy does not know
    }
    if (msg.type === 'welcome') {
      this.attempt = 0;
      this.identity = msg.identity;
      this.opts.onEvent?.({ type: 'connected', url: this.ws?.url ?? '', identity: msg.identity });
      clearInterval(this.heartbeat);
      this.lastReady = undefined;
      const { heartbeatMs } = msg;
      this.heartbeat = setInterval(() => this.beat(heartbeatMs), heartbeatMs);
      this.heartbeat.unref();
      this.sendStatus();
    } else if (msg.type === 'snapshot') {
      const { version, config } = msg;
      // One at a time, in order: a snapshot never races the one before it.
      this.applying = this.applying.then(async () => {
        try {
          await this.opts.apply(config, version);
          this.version = version;
          this.sendMsg({ type: 'ack', version });
          this.opts.onEvent?.({ type: 'applied', version });
          this.firstResolve?.();
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          this.sendMsg({ type: 'nack', version, error: error.slice(0, 60_000) });
          this.opts.onEvent?.({ type: 'rejected', version, error });
        }
      });
    } else if (msg.type === 'stats-config') {
      const ws = this.ws;
      this.opts.stats?.start(msg.intervalMs, {
        send: (m) => this.sendMsg(m),
        buffered: () => ws?.bufferedAmount ?? 0,
      });
    } else if (msg.type === 'report-ejections') {
      this.opts.stats?.reportEjections();
    } else if (msg.type === 'tap-start' || msg.type === 'tap-stop') {
      const ws = this.ws;
      this.opts.tap?.handle(msg, { send: (m) => this.sendMsg(m), buffered: () => ws?.bufferedAmount ?? 0 });
    } else if (msg.type === 'renew') {
      this.opts.onEvent?.({ type: 'renew' });
    } else if (msg.type === 'certificate' || msg.type === 'csr-error') {
      const pending = this.pendingCsrs.get(msg.id);
      if (pending === undefined) return;
      this.pendingCsrs.delete(msg.id);
      clearTimeout(pending.timer);
      if (msg.type === 'certificate')
        pending.resolve({ certChainPem: msg.certChain, trustBundlePem: msg.trustBundle });
      else pending.reject(new CertificateRequestError(msg.code, msg.message));
    } else {
      this.opts.onEvent?.({ type: 'refused', code: msg.code, message: msg.message });
    }
  }

  /**
   * Asks the control plane to sign a CSR on the current stream. Rejects at once when there is no
   * stream (the caller retries with backoff), and when no answer comes in time.
   */
  requestCertificate(csrPem: string): Promise<IssuedCertificate> {
    if (this.ws?.readyState !== WebSocket.OPEN || this.identity === undefined)
      return Promise.reject(
        new CertificateRequestError('TRELLIS_CONTROL_UNAVAILABLE', 'not connected to the control plane'),
      );
    const id = this.nextCsrId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.opts.csrTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        this.pendingCsrs.delete(id);
        reject(new CertificateRequestError('TRELLIS_CSR_TIMEOUT', `no certificate within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingCsrs.set(id, { resolve, reject, timer });
      this.sendMsg({ type: 'csr', id, csr: csrPem });
    });
  }

  private failPendingCsrs(reason: string): void {
    for (const [id, p] of this.pendingCsrs) {
      clearTimeout(p.timer);
      p.reject(new CertificateRequestError('TRELLIS_CONTROL_UNAVAILABLE', reason));
      this.pendingCsrs.delete(id);
    }
  }

  private beat(heartbeatMs: number): void {
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN) return;
    // A control plane that vanished without closing (host down, partition) sends nothing, and TCP
    // would take many minutes to notice: give up on this stream and reconnect (maybe elsewhere).
    if (Date.now() - this.lastHeard > 3 * heartbeatMs) return void ws.terminate();
    this.sendStatus();
    // Answered by the peer's WebSocket layer: proves it alive between snapshots.
    ws.ping();
  }

  private sendStatus(): void {
    const ready = this.opts.ready();
    this.lastReady = ready;
    this.sendMsg({ type: 'status', ready, time: Date.now() });
  }

  /** Tell the control plane now (rather than at the next heartbeat) that readiness changed. */
  readinessChanged(): void {
    if (this.opts.ready() !== this.lastReady) this.sendStatus();
  }

  private sendMsg(msg: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  private onClose(url: string, reason: string): void {
    clearInterval(this.heartbeat);
    this.opts.stats?.stop();
    this.opts.tap?.reset(); // the control plane starts them again on the next stream if still wanted
    this.ws = undefined;
    this.failPendingCsrs(`stream closed: ${reason}`);
    if (this.stopped) return;
    this.urlIndex++;
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 200, maxMs: 3000 };
    // Full jitter: a restarted control plane is not hit by every proxy at the same instant.
    const cap = Math.min(maxMs, initialMs * 2 ** this.attempt++);
    const retryInMs = Math.round(cap / 2 + (Math.random() * cap) / 2);
    this.opts.onEvent?.({ type: 'disconnected', url, reason, retryInMs });
    this.retry = setTimeout(() => this.connect(), retryInMs);
  }

  /** Stops; with `deregister`, first says goodbye so the workload leaves the registry at once. */
  async close(opts: { deregister: boolean }): Promise<void> {
    this.stopped = true;
    this.failPendingCsrs('closing');
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    const ws = this.ws;
    if (ws === undefined) return;
    // The last counts first: a workload that stops still shows in the stats of its last seconds.
    this.opts.stats?.flush();
    this.opts.stats?.stop();
    if (opts.deregister) this.sendMsg({ type: 'bye' });
    await new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      const t = setTimeout(() => (ws.terminate(), resolve()), 1000);
      ws.once('close', () => (clearTimeout(t), resolve()));
      ws.close(1000);
    });
  }
}
