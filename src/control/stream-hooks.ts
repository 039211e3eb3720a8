// Feature modules (live tap, src/control/tap) follow the proxies' push streams here without
// living in push-server.ts: which proxies are connected (and when one comes or goes), a way to send
// one of them a message, and the messages of theirs the push server hands on.
import type { WebSocket } from 'ws';
import type { ClientMessage, ServerMessage, WorkloadRegistration } from './protocol.ts';

/** A proxy connected to this replica (welcomed, registered). */
export interface ConnectedProxy {
  readonly id: string;
  readonly registration: WorkloadRegistration;
  /** False when the stream is no longer open (the message is not sent). */
  send(msg: ServerMessage): boolean;
  /** Bytes queued on the stream, not yet sent. */
  buffered(): number;
}

export interface StreamListener {
  connected?(proxy: ConnectedProxy): void;
  disconnected?(proxy: ConnectedProxy): void;
  message?(proxy: ConnectedProxy, msg: ClientMessage): void;
}

export class StreamHooks {
  private readonly listeners = new Set<StreamListener>();
  private readonly proxies = new Set<ConnectedProxy>();

  /** Returns the function that stops listening. */
  listen(listener: StreamListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  connectedProxies(): ConnectedProxy[] {
    return [...this.proxies];
  }

  connected(proxy: ConnectedProxy): void {
    this.proxies.add(proxy);
    for (const l of this.listeners) l.connected?.(proxy);
  }

  disconnected(proxy: ConnectedProxy): void {
    if (!this.proxies.delete(proxy)) return;
    for (const l of this.listeners) l.disconnected?.(proxy);
  }

  message(proxy: ConnectedProxy, msg: ClientMessage): void {
    if (!this.proxies.has(proxy)) return;
    for (const l of this.listeners) l.message?.(proxy, msg);
  }
}

export function streamProxy(ws: WebSocket, id: string, registration: WorkloadRegistration): ConnectedProxy {
  return {
    id,
    registration,
    send(msg) {
      if (ws.readyState !== ws.OPEN) return false;
      ws.send(JSON.stringify(msg));
      return true;
    },
    buffered: () => ws.bufferedAmount,
  };
}
