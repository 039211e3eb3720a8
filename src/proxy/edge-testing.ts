// A mesh pair for the edge metrics tests: web's sidecar (outbound) calls reviews' sidecar (inbound,
// STRICT mTLS) in front of real apps, each proxy with its own registry, named as the control plane
// names them (node workload/version, cluster service, endpoint app/version labels).
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import { openTestCa } from '../identity/testing.ts';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ProxyConfig, type ProxyConfigInput } from '../model/schema.ts';
import type { InboundSecurity } from '../model/security.ts';
import { credentials, REVIEWS, secretsOf, WEB } from '../tls/testing.ts';
import { ProxyServer } from './proxy-server.ts';

export { REVIEWS, WEB };

export interface Apps {
  http: number;
  grpc: number;
  tcp: number;
  /** x-trellis-peer values the HTTP app saw (null when absent), one per request. */
  peerHeaders: (string | null)[];
}

/** HTTP/1 app: 503 on /status/503, else 200 "hello"; gRPC app: one 8-byte message, grpc-status 5. */
export async function startApps(t: TestContext): Promise<Apps> {
  const peerHeaders: (string | null)[] = [];
  const h1 = http.createServer((req, res) => {
    const peer = req.headers['x-trellis-peer'];
    peerHeaders.push(typeof peer === 'string' ? peer : null);
    req.resume();
    req.on('end', () => {
      if (req.url === '/status/503') res.writeHead(503).end('unavailable');
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
    });
  });
  const h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'nope' }));
      stream.end(Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]));
    });
  });
  const tcp = net.createServer((s) => {
    s.on('data', (d: Buffer) => s.write(d));
    s.on('end', () => s.end());
    s.on('error', () => s.destroy());
  });
  const ports: number[] = [];
  for (const server of [h1, h2, tcp]) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    ports.push((server.address() as net.AddressInfo).port);
  }
  t.after(async () => {
    h1.closeAllConnections();
    await Promise.all([h1, h2, tcp].map((s) => new Promise((r) => s.close(r))));
  });
  return { http: ports[0]!, grpc: ports[1]!, tcp: ports[2]!, peerHeaders };
}

export interface PairOptions {
  metrics?: boolean;
  inboundSecurity?: Partial<InboundSecurity>;
  maxEdgeSeries?: number;
}

export interface Pair {
  client: ProxyServer;
  server: ProxyServer;
  clientRegistry: Registry;
  serverRegistry: Registry;
  /** The client's outbound listeners: HTTP (http/h2c) and opaque TCP. */
  outbound: number;
  outboundTcp: number;
  /** The server's inbound listeners: HTTP (detect) and TCP, both STRICT mTLS. */
  inbound: number;
  inboundTcp: number;
}

export async function startPair(t: TestContext, apps: Apps, o: PairOptions = {}): Promise<Pair> {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const telemetry = { metrics: { enabled: o.metrics ?? true } };
  const serverStats = new ProxyStats(new Registry(), {
    defaultMetrics: false,
    maxEdgeSeries: o.maxEdgeSeries,
  });
  const server = await start(t, serverStats, {
    node: {
      id: 'reviews-1',
      service: 'reviews',
      namespace: 'default',
      workload: 'reviews-v1',
      version: 'v1',
    },
    admin: { port: 0 },
    listeners: [
      { name: 'inbound', direction: 'inbound', port: 0, routeTable: 'in', mtls: { mode: 'STRICT' } },
      {
        name: 'inbound-tcp',
        direction: 'inbound',
        port: 0,
        protocol: 'tcp',
        tcpCluster: 'app-tcp',
        mtls: { mode: 'STRICT' },
      },
    ],
    routeTables: [
      {
        name: 'in',
        virtualHosts: [
          {
            name: 'grpc',
            domains: ['grpc'],
            routes: [{ name: 'inbound-grpc', backends: [{ cluster: 'app-grpc' }] }],
          },
          { name: 'app', domains: ['*'], routes: [{ name: 'inbound', backends: [{ cluster: 'app' }] }] },
        ],
      },
    ],
    clusters: [
      { name: 'app', endpoints: [{ address: '127.0.0.1', port: apps.http }] },
      { name: 'app-grpc', protocol: 'grpc', endpoints: [{ address: '127.0.0.1', port: apps.grpc }] },
      { name: 'app-tcp', protocol: 'tcp', endpoints: [{ address: '127.0.0.1', port: apps.tcp }] },
    ],
    secrets: secretsOf(await credentials(ca, REVIEWS), bundle),
    inboundSecurity: { jwtRules: [], authorization: [], ...o.inboundSecurity },
    telemetry,
  });
  const ports = server.ports();
  const peer = (port: number): { address: string; port: number; labels: Record<string, string> } => ({
    address: '127.0.0.1',
    port,
    labels: { app: 'reviews', version: 'v1' },
  });
  const mesh = { mtls: { identities: [REVIEWS] }, service: { name: 'reviews', namespace: 'default' } };
  const clientStats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const client = await start(t, clientStats, {
    node: { id: 'web-1', service: 'web', namespace: 'default', workload: 'web-v1', version: 'v1' },
    admin: { port: 0 },
    listeners: [
      { name: 'outbound', direction: 'outbound', port: 0, protocol: 'http', routeTable: 'out' },
      { name: 'outbound-tcp', direction: 'outbound', port: 0, protocol: 'tcp', tcpCluster: 'reviews-tcp' },
    ],
    routeTables: [
      {
        name: 'out',
        virtualHosts: [
          {
            name: 'grpc',
            domains: ['grpc'],
            routes: [{ name: 'reviews-grpc', backends: [{ cluster: 'reviews-grpc' }] }],
          },
          {
            // CONNECT tcp.echo:7000 tunnels to reviews' TCP listener.
            name: 'tcp',
            domains: ['tcp.echo:7000'],
            routes: [{ name: 'reviews-tcp', backends: [{ cluster: 'reviews-tcp' }] }],
          },
          {
            name: 'reviews',
            domains: ['*'],
            routes: [{ name: 'reviews', backends: [{ cluster: 'reviews' }] }],
          },
        ],
      },
    ],
    clusters: [
      { name: 'reviews', endpoints: [peer(ports.inbound!)], ...mesh },
      { name: 'reviews-grpc', protocol: 'grpc', endpoints: [peer(ports.inbound!)], ...mesh },
      { name: 'reviews-tcp', protocol: 'tcp', endpoints: [peer(ports['inbound-tcp']!)], ...mesh },
    ],
    secrets: secretsOf(await credentials(ca, WEB), bundle),
    telemetry,
  });
  return {
    client,
    server,
    clientRegistry: clientStats.registry as Registry,
    serverRegistry: serverStats.registry as Registry,
    outbound: client.ports().outbound!,
    outboundTcp: client.ports()['outbound-tcp']!,
    inbound: ports.inbound!,
    inboundTcp: ports['inbound-tcp']!,
  };
}

async function start(t: TestContext, stats: ProxyStats, input: ProxyConfigInput): Promise<ProxyServer> {
  const proxy = new ProxyServer(ProxyConfig.parse(input), stats);
  await proxy.start();
  t.after(() => proxy.drain(0));
  return proxy;
}

/** The value of one exact series (`name{labels}`, labels in exposition order) in Prometheus text. */
export function valueOf(
  text: string,
  name: string,
  labels: Record<string, string | number>,
): number | undefined {
  const body = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const prefix = body === '' ? `${name} ` : `${name}{${body}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

/** The labels of a web → reviews edge as a reporter sees it (response labels added by the caller). */
export function edgeLabels(
  reporter: 'source' | 'destination',
  over: Record<string, string> = {},
): Record<string, string> {
  // HTTP series carry route, response_code and grpc_status; TCP series do not.
  const request = 'route' in over || 'response_code' in over;
  const base: Record<string, string> = {
    reporter,
    source_workload: 'web-v1',
    source_namespace: 'default',
    source_version: 'v1',
    source_principal: WEB,
    destination_service: 'reviews.default',
    destination_namespace: 'default',
    destination_workload: 'reviews-v1',
    destination_version: 'v1',
    destination_principal: REVIEWS,
  };
  const out: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(over)) if (k in base) out[k] = v;
  if (request) {
    out.route = over.route ?? 'unknown';
    out.response_code = over.response_code ?? 'unknown';
    out.grpc_status = over.grpc_status ?? '';
  }
  out.mtls = over.mtls ?? 'true';
  return out;
}
