// Command line of the peer proxies: --port P --upstream http://127.0.0.1:U (loopback only).
import { parseArgs } from 'node:util';

export interface PeerArgs {
  port: number;
  upstream: URL;
}

export function peerArgs(): PeerArgs {
  const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be a port number');
  if (!values.upstream) throw new Error('--upstream http://HOST:PORT is required');
  return { port, upstream: new URL(values.upstream) };
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) a proxy must not forward. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);
