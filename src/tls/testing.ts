// A proxy pair for the mesh mTLS tests: a client-side proxy (outbound listener → cluster with
// `mtls`) and a server-side proxy (inbound listener with `mtls`) in front of a real app, each with
// a certificate from a real CA. Configs are rebuilt per call so tests can swap certificates.
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import type { TestContext } from 'node:test';
import { Registry } from 'prom-client';
import type { CertificateAuthority } from '../identity/ca.ts';
import { issueWorkload, type Credentials } from '../identity/testing.ts';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ProxyConfig, type ProxyConfigInput } from '../model/schema.ts';
import type { InboundSecurity, MtlsMode } from '../model/security.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';

export const WEB = 'spiffe://cluster.local/ns/default/sa/web';
export const REVIEWS = 'spiffe://cluster.local/ns/default/sa/reviews';

export function secretsOf(c: Credentials, bundle: string): ProxyConfigInput['secrets'] {
  return { certChain: c.certChainPem, privateKey: c.privateKeyPem, trustBundle: bundle };
}

/** An app answering with what its sidecar told it: the caller's identity (XFCC), method and path. */
export async function startEchoApp(t: TestContext): Promise<number> {
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      const body = JSON.stringify({
        xfcc: req.headers['x-forwarded-client-cert'] ?? null,
        method: req.method,
        url: req.url,
        authorization: req.headers.authorization ?? null,
        bytes: n,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(
    () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  );
  return (server.address() as net.AddressInfo).port;
}

export interface ServerSide {
  mode?: MtlsMode;
  protocol?: 'detect' | 'tcp';
  inboundSecurity?: Partial<InboundSecurity>;
  appProtocol?: 'http1' | 'tcp';
}

export function serverConfig(
  appPort: number,
  secrets: ProxyConfigInput['secrets'],
  o: ServerSide = {},
  port = 0,
): ProxyConfigInput {
  const tcp = o.protocol === 'tcp';
  return {
    admin: { port: 0 },
    listeners: [
      {
        name: 'inbound',
        direction: 'inbound',
        port,
        protocol: o.protocol ?? 'detect',
        ...(tcp ? { tcpCluster: 'app' } : { routeTable: 'in' }),
        mtls: { mode: o.mode ?? 'STRICT' },
      },
    ],
    routeTables: tcp
      ? []
      : [
          {
            name: 'in',
            virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ backends: [{ cluster: 'app' }] }] }],
          },
        ],
    clusters: [
      {
        name: 'app',
        protocol: o.appProtocol ?? (tcp ? 'tcp' : 'http1'),
        endpoints: [{ address: '127.0.0.1', port: appPort }],
      },
    ],
    secrets,
    inboundSecurity: { jwtRules: [], authorization: [], ...o.inboundSecurity },
  };
}

export function clientConfig(
  serverPort: number,
  secrets: ProxyConfigInput['secrets'],
  o: { identities?: string[]; protocol?: 'http1' | 'http2' | 'tcp' } = {},
  port = 0,
): ProxyConfigInput {
  const tcp = o.protocol === 'tcp';
  return {
    admin: { port: 0 },
    listeners: [
      {
        name: 'outbound',
        direction: 'outbound',
        port,
        protocol: tcp ? 'tcp' : 'http',
        ...(tcp ? { tcpCluster: 'reviews' } : { routeTable: 'out' }),
      },
    ],
    routeTables: tcp
      ? []
      : [
          {
            name: 'out',
            virtualHosts: [
              { name: 'reviews', domains: ['*'], routes: [{ backends: [{ cluster: 'reviews' }] }] },
            ],
          },
        ],
    clusters: [
      {
        name: 'reviews',
        protocol: o.protocol ?? 'http1',
        endpoints: [{ address: '127.0.0.1', port: serverPort }],
        mtls: { identities: o.identities ?? [REVIEWS] },
      },
    ],
    secrets,
  };
}

export async function startProxy(t: TestContext, input: ProxyConfigInput): Promise<ProxyServer> {
  const proxy = new ProxyServer(ProxyConfig.parse(input), new ProxyStats(new Registry()));
  await proxy.start();
  t.after(() => proxy.drain(0));
  return proxy;
}

export async function reload(proxy: ProxyServer, input: ProxyConfigInput): Promise<void> {
  await proxy.reload(ProxyConfig.parse(input));
}

export async function credentials(
  ca: CertificateAuthority,
  id: string,
  ttlMs?: number,
): Promise<Credentials> {
  return issueWorkload(ca, id, ttlMs);
}
