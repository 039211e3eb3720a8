// A simulated proxy: one push stream speaking src/control/protocol.ts like a sidecar does — hello
// with its own workload, ACK for every snapshot, a `status` heartbeat at the rate the control plane
// asks — but without a data plane, so thousands fit in one process. It reads a snapshot's version
// from the first bytes of the message instead of parsing megabytes of JSON it would not use. Like a
// sidecar it presents a join token for its service account on the upgrade (bench/control/join-tokens.ts).
import {
  PROTOCOL_VERSION,
  STREAM_PATH,
  type ClientMessage,
  type WorkloadRegistration,
} from '../../src/control/protocol.ts';
import type { JoinTokenCache } from './join-tokens.ts';
import { nowMs } from './procs.ts';
import { LiteWebSocket, type LiteMessage } from './ws-lite.ts';

/** A snapshot as this proxy received it; `marker` is what `inspect` saw in it. */
export interface Received {
  version: string;
  at: number;
  bytes: number;
  marker?: string | undefined;
}

export interface SimProxyOptions {
  controlUrl: string;
  registration: WorkloadRegistration;
  /** Looks into a snapshot (the whole message text); only when given is the text decoded. */
  inspect?: (text: string) => string | undefined;
  /** How many received snapshots to remember. */
  keep?: number;
  /** Where the join token of the registration's service account comes from (asked on every dial); none: no token. */
  joinTokens?: Pick<JoinTokenCache, 'get'>;
}

const VERSION_PREFIX = /^\{"type":"snapshot","version":"([^"]*)"/;

export class SimProxy {
  readonly opts: SimProxyOptions;
  private ws: LiteWebSocket | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attempt = 0;
  private stopped = false;
  private firstWelcome: (() => void) | undefined;
  /** Most recent snapshots, oldest first. */
  readonly received: Received[] = [];
  /** Welcomed on a stream that is still open. */
  open = false;
  welcomed = false;
  /** Streams that ended after their welcome (the control plane closed them, or the connection broke). */
  drops = 0;
  /** Why the last stream ended. */
  closedBy: string | undefined;

  constructor(opts: SimProxyOptions) {
    this.opts = opts;
  }

  get id(): string {
    return `${this.opts.registration.name}.${this.opts.registration.namespace}`;
  }

  /**
   * Connects, and reconnects like a sidecar (jittered backoff, 200 ms up to 3 s) whenever the
   * stream ends; resolves on the first welcome, rejects if there is none within `timeoutMs`.
   */
  connect(timeoutMs = 30_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstWelcome = undefined;
        reject(new Error(`${this.id}: no welcome within ${timeoutMs} ms (${this.closedBy ?? 'no answer'})`));
      }, timeoutMs);
      this.firstWelcome = () => {
        clearTimeout(timer);
        resolve();
      };
      this.dial();
    });
  }

  private dial(): void {
    if (this.stopped) return;
    const { joinTokens, registration } = this.opts;
    if (joinTokens === undefined) return this.connectStream(undefined);
    joinTokens.get(registration.namespace, registration.spec.serviceAccount).then(
      (token) => this.connectStream(token),
      (err: unknown) => {
        // The control plane may be down (it is, in the outage): try again like any failed dial.
        this.closedBy = `no join token: ${err instanceof Error ? err.message : String(err)}`;
        this.redial();
      },
    );
  }

  /** Backs off (jittered, 200 ms doubling up to 3 s) and dials again. */
  private redial(): void {
    if (this.stopped) return;
    const cap = Math.min(3000, 200 * 2 ** this.attempt++);
    this.retry = setTimeout(() => this.dial(), cap / 2 + (Math.random() * cap) / 2);
  }

  private connectStream(token: string | undefined): void {
    if (this.stopped) return;
    const url = new URL(STREAM_PATH, this.opts.controlUrl.replace(/^http/, 'ws')).toString();
    let welcomed = false;
    this.ws = new LiteWebSocket(url, {
      ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}),
      // Only what `inspect` reads needs the whole snapshot; else its first bytes are enough.
      wholeUpTo: this.opts.inspect === undefined ? 16 * 1024 : 256 * 1024 * 1024,
      onOpen: () =>
        this.send({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          proxy: { id: this.id, trellis: '0.1.0' },
          workload: this.opts.registration,
        }),
      onMessage: (m) => {
        const heartbeatMs = this.onMessage(m);
        if (heartbeatMs === undefined) return;
        welcomed = true;
        this.welcomed = true;
        this.open = true;
        this.attempt = 0;
        clearInterval(this.heartbeat);
        this.heartbeat = setInterval(() => this.send({ type: 'status', ready: true }), heartbeatMs);
        this.send({ type: 'status', ready: true });
        this.firstWelcome?.();
        this.firstWelcome = undefined;
      },
      onClose: (code, reason) => {
        clearInterval(this.heartbeat);
        this.open = false;
        if (this.closedBy === undefined || welcomed) this.closedBy = `${code} ${reason}`.trim();
        if (welcomed) this.drops++;
        this.redial();
      },
    });
  }

  /** Handles one server message; returns the heartbeat interval when it is the welcome. */
  private onMessage(m: LiteMessage): number | undefined {
    const at = nowMs();
    const head = VERSION_PREFIX.exec(m.data.toString('latin1', 0, Math.min(m.data.length, 200)));
    if (head !== null && this.opts.inspect === undefined) {
      this.ack(head[1] as string, at, m.length, undefined);
      return undefined;
    }
    if (!m.whole) return undefined;
    const text = m.data.toString('utf8');
    let msg: { type?: unknown; version?: unknown; heartbeatMs?: unknown; code?: unknown; message?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return undefined;
    }
    if (msg.type === 'welcome' && typeof msg.heartbeatMs === 'number') return msg.heartbeatMs;
    if (msg.type === 'snapshot' && typeof msg.version === 'string') {
      this.ack(msg.version, at, m.length, this.opts.inspect?.(text));
    } else if (msg.type === 'error') {
      this.closedBy = `${String(msg.code)}: ${String(msg.message)}`;
    }
    return undefined;
  }

  private ack(version: string, at: number, bytes: number, marker: string | undefined): void {
    this.received.push({ version, at, bytes, marker });
    if (this.received.length > (this.opts.keep ?? 8)) this.received.shift();
    this.send({ type: 'ack', version });
  }

  /** When this proxy first received a snapshot that `accept` takes, at or after `since`. */
  firstSince(since: number, accept: (r: Received) => boolean): number | undefined {
    return this.received.find((r) => r.at >= since && accept(r))?.at;
  }

  private send(msg: ClientMessage): void {
    this.ws?.send(JSON.stringify(msg));
  }

  close(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.ws?.terminate();
  }
}

/** The workload simulated proxy `i` registers: a unique 10.x.y.z address, like a pod IP. */
export function simRegistration(i: number, service: string, namespace: string): WorkloadRegistration {
  const n = i + 1;
  return {
    name: `${service}-sim${i}`,
    namespace,
    labels: { app: service, version: 'v1' },
    spec: {
      service,
      serviceAccount: service,
      address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
      ports: { inbound: 15006, app: 8080 },
      protocol: 'http',
      ready: true,
    },
  };
}
