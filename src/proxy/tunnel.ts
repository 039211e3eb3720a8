// CONNECT and Upgrade (WebSocket): after the HTTP handshake the connection carries opaque bytes.
// The request is routed like any other, then the client socket is spliced to the endpoint.
import net from 'node:net';
import type { ProxyError } from '../errors.ts';
import {
  RouteNotFoundError,
  NoHealthyEndpointError,
  ConnectFailedError,
  ConnectTimeoutError,
} from '../errors.ts';
import { serializeHeaders } from '../http1/headers.ts';
import { ResponseWriter } from '../http1/response-writer.ts';
import { spliceSockets } from '../tcp/tcp-proxy.ts';
import type { StackEnv } from './forward.ts';
import type { ProxyRequest } from './types.ts';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

function refuse(socket: net.Socket, err: ProxyError): void {
  new ResponseWriter(socket).writeError(err, { http10: false, head: false, close: true });
  socket.end();
}

export interface TunnelOptions {
  idleTimeoutMs: number;
}

export function openTunnel(
  env: StackEnv,
  req: ProxyRequest,
  client: net.Socket,
  head: Buffer,
  opts: TunnelOptions,
): void {
  client.on('error', () => client.destroy());
  const route = env.router.match(req.method === 'CONNECT' ? { ...req, path: '/' } : req);
  if (route === undefined) return refuse(client, RouteNotFoundError(req.authority, req.path));
  const clusterName = route.pickCluster();
  const cluster = clusterName === undefined ? undefined : env.clusters.get(clusterName);
  const ep = cluster?.pick(req.headers, req.source.address);
  if (cluster === undefined || ep === undefined)
    return refuse(client, NoHealthyEndpointError(clusterName ?? route.name));
  const target = `${ep.address}:${ep.port}`;
  const upstream = net.connect({ host: ep.address, port: ep.port });
  const timeoutMs = cluster.config.connectTimeout;
  const timer = setTimeout(() => upstream.destroy(ConnectTimeoutError(target, timeoutMs)), timeoutMs);
  upstream.once('error', (err) => {
    clearTimeout(timer);
    if (!client.destroyed)
      refuse(client, 'status' in err ? (err as ProxyError) : ConnectFailedError(target, err));
  });
  upstream.once('connect', () => {
    clearTimeout(timer);
    upstream.removeAllListeners('error');
    upstream.setNoDelay(true);
    if (req.method === 'CONNECT') client.write(ESTABLISHED);
    else {
      // Replay the handshake; the endpoint's 101 (or refusal) flows back through the splice.
      upstream.write(
        `${req.method} ${req.path} HTTP/1.1\r\nhost: ${req.authority}\r\n${serializeHeaders(req.headers)}\r\n`,
        'latin1',
      );
    }
    if (head.length > 0) upstream.write(head);
    spliceSockets(client, upstream, { idleTimeoutMs: opts.idleTimeoutMs });
    client.resume();
  });
}
