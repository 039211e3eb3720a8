// Who is on the other end of a downstream connection: its address, and the SPIFFE ID it proved
// when the connection arrived over mesh mTLS. The listener records the identity once per
// connection; the protocol adapters read it when they build each request's source.
import type net from 'node:net';

export interface ConnectionSource {
  address: string;
  port: number;
  /** The peer's SPIFFE ID (spiffe://…), present only on mesh mTLS connections. */
  identity?: string;
}

const identities = new WeakMap<net.Socket, string>();

export function setPeerIdentity(socket: net.Socket, id: string): void {
  identities.set(socket, id);
}

export function connectionSource(socket: net.Socket): ConnectionSource {
  const id = identities.get(socket);
  const source: ConnectionSource = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
  if (id !== undefined) source.identity = id;
  return source;
}
