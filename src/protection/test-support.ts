// Test scaffolding for cluster protection: upstreams whose failures the test controls (status,
// held answers, kill and restart on the same port), a ClusterRuntime driven directly with the
// request objects the proxy would build, and an in-process proxy for what clients see.
import http from 'node:http';
import type net from 'node:net';
import { Registry } from 'prom-client';
import { errorResponseHeaders, type ProxyError } from '../errors.ts';
import { PolicyStats } from '../metrics/policy-stats.ts';
import { ConnectionStats, ProxyStats } from '../metrics/proxy-stats.ts';
import { parseConfigText } from '../model/load.ts';
import { Cluster, type ProxyConfigInput } from '../model/schema.ts';
import { ClusterRuntime, type ClusterRuntimeOptions } from '../proxy/cluster.ts';
import { TransportRegistry } from '../proxy/transports.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import { testRequest } from '../proxy/testing.ts';
import type { HeaderList, ProxyRequest, ResponseController } from '../proxy/types.ts';
import { listen, portOf } from '../../test/support/sockets.ts';

export interface ControlledUpstream {
  readonly name: string;
  port: number;
  /** Status of the next answers (default 200). */
  status: number;
  /** Decides each answer's status instead of `status` when set (n counts this upstream's requests). */
  statusFor: ((n: number) => number) | null;
  /** Answers wait this long (ms) before being sent. */
  delayMs: number;
  /** When true, answers wait until release() (or the client goes away). */
  hold: boolean;
  /** Requests received. */
  requests: number;
  /** Connections accepted, and the requests each carried, in accept order. */
  connections: number[];
  /** Connections open now. */
  openConnections(): number;
  /** Answers every held request. */
  release(): void;
  /** Held requests now. */
  held(): number;
  /** Closes the listening socket and every connection (the process "died"). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startUpstream(name: string): Promise<ControlledUpstream> {
  const held: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  let server: http.Server | null = null;
  const u: ControlledUpstream = {
    name,
    port: 0,
    status: 200,
    statusFor: null,
    delayMs: 0,
    hold: false,
    requests: 0,
    connections: [],
    openConnections: () => sockets.size,
    release() {
      for (const answer of held.splice(0)) answer();
    },
    held: () => held.length,
    async kill() {
      const s = server;
      server = null;
      if (s === null) return;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async restart() {
      if (server !== null) return;
      server = makeServer();
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(u.port, '127.0.0.1', () => resolve());
      });
    },
    close: () => u.kill(),
  };
  function makeServer(): http.Server {
    const s = http.createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
      const n = u.requests++;
      const index = (req.socket as net.Socket & { index?: number }).index;
      if (index !== undefined) u.connections[index]!++;
      req.resume();
      const answer = (): void => {
        if (res.destroyed) return;
        res.setHeader('x-upstream', name);
        res.statusCode = u.statusFor ? u.statusFor(n) : u.status;
        res.end(name);
      };
      req.once('end', () => {
        if (u.hold) held.push(answer);
        else if (u.delayMs > 0) setTimeout(answer, u.delayMs);
        else answer();
      });
    });
    s.on('connection', (socket: net.Socket & { index?: number }) => {
      socket.index = u.connections.length;
      u.connections.push(0);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    return s;
  }
  server = makeServer();
  await listen(server);
  u.port = portOf(server);
  return u;
}

export interface Answer {
  status: number;
  /** The upstream that answered (x-upstream), or '' for the proxy's own answer. */
  upstream: string;
  /** The ProxyError code when the cluster refused or failed the request. */
  code: string;
  headers: HeaderList;
}

export interface DirectCluster {
  cluster: ClusterRuntime;
  registry: TransportRegistry;
  policy: PolicyStats;
  /** Sends one GET through cluster.dispatch; resolves with the answer or the error. */
  send(path?: string): Promise<Answer>;
  /** Builds the cluster again from `input` on the same registry, as a reload does, and sweeps. */
  reload(input: unknown): ClusterRuntime;
  close(): void;
}

function request(path: string): ProxyRequest {
  return testRequest({ path });
}

/** A ClusterRuntime over `input` (a Cluster as config would give it), with its own registry. */
export function directCluster(input: unknown, opts: ClusterRuntimeOptions = {}): DirectCluster {
  const registry = new TransportRegistry();
  const policy = new PolicyStats(new Registry());
  const conns = new ConnectionStats();
  const build = (i: unknown): ClusterRuntime =>
    new ClusterRuntime(Cluster.parse(i), registry, conns, policy, opts);
  registry.beginGeneration();
  const d: DirectCluster = {
    cluster: build(input),
    registry,
    policy,
    send(path = '/') {
      const cluster = d.cluster;
      return new Promise((resolve) => {
        let status = 0;
        let headers: HeaderList = [];
        cluster.dispatch(request(path), null, {
          onResponseStart(s: number, h: HeaderList, _c: ResponseController) {
            status = s;
            headers = h;
          },
          onResponseData: () => true,
          onResponseEnd() {
            resolve({ status, upstream: headerOf(headers, 'x-upstream'), code: '', headers });
          },
          onResponseError(err: ProxyError) {
            resolve({
              status: err.status,
              upstream: '',
              code: err.code,
              headers: [...errorResponseHeaders(err)],
            });
          },
        });
      });
    },
    reload(i: unknown) {
      registry.beginGeneration();
      d.cluster = build(i);
      registry.sweep();
      return d.cluster;
    },
    close() {
      registry.closeAll();
    },
  };
  registry.sweep();
  return d;
}

export function headerOf(headers: HeaderList, name: string): string {
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i] === name) return headers[i + 1]!;
  return '';
}

/** Cluster input over `upstreams` (round robin unless `extra` says otherwise). */
export function clusterInput(upstreams: readonly { port: number }[], extra: Record<string, unknown> = {}) {
  return {
    name: 'up',
    lb: { policy: 'round_robin' },
    endpoints: upstreams.map((u) => ({ address: '127.0.0.1', port: u.port })),
    ...extra,
  };
}

/** Sends `n` requests one after another; returns the answers in order. */
export async function sendSequentially(d: DirectCluster, n: number): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < n; i++) out.push(await d.send());
  return out;
}

/** Polls `cond` every 10 ms until true, at most `timeoutMs`; throws with `what` if it never holds. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i < 100_000 && !cond(); i++) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface InProcessProxy {
  port: number;
  close(): Promise<void>;
}

/** An in-process proxy: listener "in" (HTTP/1.1 and h2c) routing everything to `cluster`. */
export async function startProxy(cluster: Record<string, unknown>): Promise<InProcessProxy> {
  const config: ProxyConfigInput = {
    version: 'protection-test',
    admin: { port: 0 },
    listeners: [{ name: 'in', direction: 'outbound', port: 0, protocol: 'http', routeTable: 'rt' }],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          { name: 'all', domains: ['*'], routes: [{ name: 'all', backends: [{ cluster: 'up' }] }] },
        ],
      },
    ],
    clusters: [cluster as NonNullable<ProxyConfigInput['clusters']>[number]],
  };
  const proxy = new ProxyServer(
    parseConfigText(JSON.stringify(config), 'protection-test.json'),
    new ProxyStats(new Registry(), { defaultMetrics: false }),
  );
  await proxy.start();
  const port = proxy.ports()['in'];
  if (port === undefined) throw new Error('listener "in" did not bind');
  return { port, close: () => proxy.drain(200) };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 GET on its own connection, bounded by 10 s. */
export function get(port: number, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, headers: { host: 'svc.test' }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}
