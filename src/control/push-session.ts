// One proxy's stream as the push server keeps it (its session), what `proxy-status` shows of it,
// and the small helpers that read and write stream messages.
import type { RawData, WebSocket } from 'ws';
import type { ConnectedProxy } from './stream-hooks.ts';
import { ClientMessage, type ServerMessage, type WorkloadRegistration } from './protocol.ts';
import type { SentConfigs } from './sent-configs.ts';
import { errorCode } from './stream-security.ts';

/** What `trellis proxy-status` shows for one proxy. */
export interface ProxyStatus {
  id: string;
  workload: string;
  namespace: string;
  connectedAt: string;
  sent?: string | undefined;
  acked?: string | undefined;
  nacked?: { version: string; error: string } | undefined;
  /** The certificate last issued to this proxy on its stream. */
  certificate?: IssuedCertificateInfo | undefined;
  /** The proxy's clock minus ours, from its last heartbeat (transit time included). */
  clockSkewMs?: number | undefined;
}

export interface IssuedCertificateInfo {
  spiffeId: string;
  serial: string;
  issuedAt: string;
  notAfter: string;
  /** PEM, leaf first: what `trellis identity` shows. */
  chain: string;
}

export interface Session {
  ws: WebSocket;
  id: string;
  registration: WorkloadRegistration;
  scope: string[] | undefined;
  transparent: boolean;
  connectedAt: Date;
  fingerprint?: string | undefined;
  sent?: string | undefined;
  acked?: string | undefined;
  nacked?: { version: string; error: string } | undefined;
  lastSeen: number;
  certificate?: IssuedCertificateInfo | undefined;
  clockSkewMs?: number | undefined;
  /** The snapshot in force (last ACKed) and those unanswered: `trellis proxy-config`. */
  configs: SentConfigs;
  /** This stream as feature modules see it (stream-hooks.ts), once welcomed. */
  proxy?: ConnectedProxy | undefined;
}

export function parseMessage(data: RawData): ClientMessage | undefined {
  try {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data as Buffer).toString('utf8');
    const parsed = ClientMessage.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Versions are store revisions (decimal); anything else compares as "not older". */
export function isOlderVersion(a: string, b: string): boolean {
  const [x, y] = [Number(a), Number(b)];
  return Number.isFinite(x) && Number.isFinite(y) && x < y;
}

export function send(ws: WebSocket, msg: ServerMessage): void {
  ws.send(JSON.stringify(msg));
}

/** Tells the peer why (code and message), then closes only this stream. */
export function fail(ws: WebSocket, closeCode: number, err: unknown): void {
  const { code, message } = errorCode(err);
  if (ws.readyState === ws.OPEN) {
    send(ws, { type: 'error', code, message });
    ws.close(closeCode, code);
  }
  setTimeout(() => ws.terminate(), 1000).unref();
}
