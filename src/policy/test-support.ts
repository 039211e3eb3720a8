// Test scaffolding for the route policies: an in-process ProxyServer built from a real config
// (parsed and validated as a file would be), upstreams that record what reaches them, and a small
// HTTP/1 client. Everything listens on 127.0.0.1 port 0 and closes with close().
import http from 'node:http';
import net from 'node:net';
import { Registry } from 'prom-client';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { parseConfigText } from '../model/load.ts';
import type { ProxyConfigInput } from '../model/schema.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import { listen, portOf } from '../../test/support/sockets.ts';

type RouteInput = NonNullable<
  ProxyConfigInput['routeTables']
>[number]['virtualHosts'][number]['routes'][number];

export interface ClusterSpec {
  ports: number[];
  protocol?: 'http1' | 'http2' | 'grpc';
}

/** A config with listener "out" (outbound) and "in" (inbound), both on one table of `routes`. */
export function policyConfig(routes: RouteInput[], clusters: Record<string, ClusterSpec>): ProxyConfigInput {
  return {
    version: 'policy-test',
    admin: { port: 0 },
    listeners: [
      { name: 'out', direction: 'outbound', port: 0, protocol: 'http', routeTable: 'rt' },
      { name: 'in', direction: 'inbound', port: 0, protocol: 'http', routeTable: 'rt' },
    ],
    routeTables: [{ name: 'rt', virtualHosts: [{ name: 'all', domains: ['*'], routes }] }],
    clusters: Object.entries(clusters).map(([name, c]) => ({
      name,
      protocol: c.protocol ?? 'http1',
      lb: { policy: 'round_robin' as const },
      endpoints: c.ports.map((port) => ({ address: '127.0.0.1', port })),
    })),
  };
}

export interface RunningProxy {
  /** The outbound listener's port. */
  port: number;
  inboundPort: number;
  stats: ProxyStats;
  close(): Promise<void>;
}

export async function startPolicyProxy(
  routes: RouteInput[],
  clusters: Record<string, ClusterSpec>,
): Promise<RunningProxy> {
  const config = parseConfigText(JSON.stringify(policyConfig(routes, clusters)), 'policy-test.json');
  const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const proxy = new ProxyServer(config, stats);
  await proxy.start();
  const ports = proxy.ports();
  return { port: ports['out']!, inboundPort: ports['in']!, stats, close: () => proxy.drain(200) };
}

export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Raw header names and values as received, in order. */
  rawHeaders: string[];
  body: Buffer;
  /** The request body arrived complete. */
  complete: boolean;
}

export interface RecordingUpstream {
  port: number;
  seen: SeenRequest[];
  /** Requests whose connection closed before the upstream answered them. */
  abandoned(): number;
  close(): Promise<void>;
}

/**
 * A node:http upstream that records each request and answers it with `respond` (default: 200,
 * `x-upstream: name`, body "name METHOD URL"). `respond` may leave a request unanswered.
 */
export async function startRecordingUpstream(
  name: string,
  respond?: (seen: SeenRequest, res: http.ServerResponse) => void,
): Promise<RecordingUpstream> {
  const seen: SeenRequest[] = [];
  let abandoned = 0;
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    const s: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      complete: false,
    };
    seen.push(s);
    res.on('close', () => {
      if (!res.writableFinished) abandoned++;
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('end', () => {
      s.body = Buffer.concat(chunks);
      s.complete = true;
      if (respond !== undefined) respond(s, res);
      else {
        res.setHeader('x-upstream', name);
        res.end(`${name} ${s.method} ${s.url}`);
      }
    });
  });
  const sockets = trackSockets(server);
  await listen(server);
  return {
    port: portOf(server),
    seen,
    abandoned: () => abandoned,
    close: () => closeServer(server, sockets),
  };
}

/** A raw TCP upstream: `onConnection` decides what each accepted socket does. */
export async function startRawUpstream(
  onConnection: (socket: net.Socket) => void,
): Promise<{ port: number; connections: net.Socket[]; close(): Promise<void> }> {
  const connections: net.Socket[] = [];
  const server = net.createServer((s) => {
    connections.push(s);
    s.on('error', () => {});
    onConnection(s);
  });
  const sockets = trackSockets(server);
  await listen(server);
  return { port: portOf(server), connections, close: () => closeServer(server, sockets) };
}

function trackSockets(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  return sockets;
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Header names and values in order, as sent. */
  rawHeaders: string[];
  body: string;
}

/** One HTTP/1.1 request on a fresh connection (no keep-alive), bounded by 10 s. */
export function request(o: {
  port: number;
  path?: string;
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: string | Buffer;
  localAddress?: string;
}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path ?? '/',
        method: o.method ?? 'GET',
        headers: { host: 'svc.test', ...o.headers },
        agent: false,
        ...(o.localAddress === undefined ? {} : { localAddress: o.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Waits until `cond()` holds, polling every 10 ms for at most `maxMs`. */
export async function waitFor(cond: () => boolean, maxMs = 3000): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** A loopback port nothing listens on (bound, read, released). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await listen(s);
  const port = portOf(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
