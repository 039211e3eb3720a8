// CONNECT and Upgrade (WebSocket): after the HTTP handshake the connection carries opaque bytes.
// The request is routed like any other, then the client socket is spliced to the endpoint.
import type { ClusterRuntime } from './cluster.ts';
import type { TcpConnector } from './transports.ts';
import type { LbEndpoint } from '../balance/index.ts';
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
import { detectProtocol } from '../detect/detect.ts';
import type { TcpSeries } from '../metrics/edge-stats.ts';
import type { StackEnv } from './forward.ts';
import type { ProxyRequest } from './types.ts';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

function refuse(socket: net.Socket, err: ProxyError): void {
  new ResponseWriter(socket).writeError(err, { http10: false, head: false, close: true });
  socket.end();
}

export interface TunnelOptions {
  idleTimeoutMs: number;
  detectTimeoutMs: number;
  /**
   * Serves HTTP found inside a CONNECT tunnel as if it had arrived on a connection of its own, so
   * each request inside is routed and balanced (clients behind HTTP_PROXY tunnel every request).
   */
  serveHttp?: ((protocol: 'http1' | 'http2', socket: net.Socket, head: Buffer) => void) | undefined;
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
  const serveHttp = opts.serveHttp;
  if (req.method === 'CONNECT' && serveHttp !== undefined && cluster.config.protocol !== 'tcp') {
    // The destination speaks HTTP: open the tunnel here and look at what the client sends in it.
    client.write(ESTABLISHED);
    if (head.length > 0) client.unshift(head);
    detectProtocol(client, opts.detectTimeoutMs).then(
      ({ protocol, head: inner }) => {
        client.on('error', () => client.destroy());
        if (protocol === 'http1' || protocol === 'http2') serveHttp(protocol, client, inner);
        // TLS or anything else inside: opaque bytes to the endpoint picked above.
        else
          connectAndSplice(
            client,
            ep,
            cluster.tcp,
            cluster.config.connectTimeout,
            undefined,
            inner,
            { ...opts, metrics: tunnelMetrics(env, cluster, ep, req) },
            true,
          );
      },
      () => client.destroy(),
    );
    return;
  }
  const preamble =
    req.method === 'CONNECT'
      ? undefined
      : // Replay the handshake; the endpoint's 101 (or refusal) flows back through the splice.
        `${req.method} ${req.path} HTTP/1.1\r\nhost: ${req.authority}\r\n${serializeHeaders(req.headers)}\r\n`;
  const connector = preamble === undefined ? cluster.tcp : cluster.upgrade;
  const metrics = tunnelMetrics(env, cluster, ep, req);
  connectAndSplice(client, ep, connector, cluster.config.connectTimeout, preamble, head, {
    ...opts,
    metrics,
  });
}

/** Edge TCP metrics of a tunnel, counted once it is spliced (undefined when metrics are off). */
function tunnelMetrics(
  env: StackEnv,
  cluster: ClusterRuntime,
  ep: LbEndpoint,
  req: ProxyRequest,
): (() => TcpSeries | undefined) | undefined {
  const edge = env.edge;
  return edge?.enabled ? () => edge.tcpOpened(cluster, ep, req) : undefined;
}

/**
 * Connects to the endpoint and splices. Without a preamble this answers the CONNECT with 200
 * once connected, unless the tunnel was already opened (then the socket is just closed on failure).
 */
function connectAndSplice(
  client: net.Socket,
  ep: { address: string; port: number },
  connector: TcpConnector,
  timeoutMs: number,
  preamble: string | undefined,
  head: Buffer,
  opts: TunnelOptions & { metrics?: (() => TcpSeries | undefined) | undefined },
  established = false,
): void {
  const target = `${ep.address}:${ep.port}`;
  const upstream = connector.connect(ep);
  const timer = setTimeout(() => upstream.destroy(ConnectTimeoutError(target, timeoutMs)), timeoutMs);
  upstream.once('error', (err) => {
    clearTimeout(timer);
    if (established) client.destroy();
    else if (!client.destroyed)
      refuse(client, 'status' in err ? (err as ProxyError) : ConnectFailedError(target, err));
  });
  upstream.once(connector.readyEvent, () => {
    clearTimeout(timer);
    upstream.removeAllListeners('error');
    upstream.setNoDelay(true);
    if (preamble !== undefined) upstream.write(preamble, 'latin1');
    else if (!established) client.write(ESTABLISHED);
    if (head.length > 0) upstream.write(head);
    const tcp = opts.metrics?.();
    if (tcp !== undefined) tcp.receivedBytes += head.length;
    spliceSockets(
      client,
      upstream,
      { idleTimeoutMs: opts.idleTimeoutMs, bytes: tcp },
      tcp && (() => void tcp.closed++),
    );
    client.resume();
  });
}
