// Scaffolding for the resilience tests: the proxy in this process (real listeners, real upstream
// sockets; its metric series are read directly), upstream servers on loopback that count and
// misbehave on demand, and a config with one route "r" over one cluster "c".
import http from 'node:http';
import type net from 'node:net';
import { Registry } from 'prom-client';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ProxyConfig, type ProxyConfigInput } from '../model/schema.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import { listen, portOf } from '../../test/support/sockets.ts';

export { httpRequest, freePort as closedPort, sleep, eventually } from '../../test/proxy/harness.ts';

type RouteInput = NonNullable<
  ProxyConfigInput['routeTables']
>[number]['virtualHosts'][number]['routes'][number];
type ClusterInput = NonNullable<ProxyConfigInput['clusters']>[number];

export interface TestProxy {
  port: number;
  stats: ProxyStats;
  /** trellis_retries_total, trellis_retry_budget_exhausted_total, trellis_hedges_total of r/c. */
  retries(): number;
  exhausted(): number;
  hedges(): number;
  close(): Promise<void>;
}

export async function startTestProxy(config: ProxyConfigInput): Promise<TestProxy> {
  const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const server = new ProxyServer(ProxyConfig.parse(config), stats);
  await server.start();
  const labels = { route: 'r', cluster: 'c' };
  return {
    port: server.ports().main!,
    stats,
    retries: () => stats.policy.retries.series(labels).value,
    exhausted: () => stats.policy.retryBudgetExhausted.series(labels).value,
    hedges: () => stats.policy.hedges.series(labels).value,
    close: () => server.drain(200),
  };
}

/** An endpoint: a port, weighted (unequal weights make round robin's first pick deterministic). */
export interface Ep {
  port: number;
  weight?: number;
}

/**
 * Listener "main" (declared http1, or http2 for h2c/gRPC clients), route "r" (`route` merged in)
 * over cluster "c" (round robin). The protocol is declared, not detected: a detected connection
 * is half-open, and a client leaving would not cancel its request (see the report of issue 3).
 */
export function resilienceConfig(
  route: Partial<RouteInput>,
  endpoints: Ep[],
  clusterExtra: Partial<ClusterInput> = {},
  listenerProtocol: 'http1' | 'http2' = 'http1',
): ProxyConfigInput {
  return {
    version: 'resilience',
    listeners: [
      { name: 'main', direction: 'outbound', port: 0, routeTable: 'rt', protocol: listenerProtocol },
    ],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          { name: 'all', domains: ['*'], routes: [{ name: 'r', backends: [{ cluster: 'c' }], ...route }] },
        ],
      },
    ],
    clusters: [
      {
        name: 'c',
        lb: { policy: 'round_robin' },
        connectTimeout: 1000,
        ...clusterExtra,
        endpoints: endpoints.map((e) => ({ address: '127.0.0.1', port: e.port, weight: e.weight ?? 1 })),
      },
    ],
  };
}

export interface CountingUpstream {
  port: number;
  /** Requests whose head arrived. */
  readonly requests: number;
  /** Requests whose connection or stream closed before the response finished (cancelled). */
  readonly aborted: number;
  close(): Promise<void>;
}

/**
 * An HTTP/1 upstream. `handler` gets the request number (1-based); it answers or not. Counts
 * requests, and requests cut off before their response finished.
 */
export async function startCountingUpstream(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<CountingUpstream> {
  let requests = 0;
  let aborted = 0;
  const sockets = new Set<net.Socket>();
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    requests++;
    res.on('close', () => {
      if (!res.writableFinished) aborted++;
    });
    handler(req, res, requests);
  });
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await listen(server);
  return {
    port: portOf(server),
    get requests() {
      return requests;
    },
    get aborted() {
      return aborted;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Reads the whole request body, then answers `status` with `body` and an x-upstream name. */
export function answer(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  status: number,
  body: string,
  name = '',
): void {
  req.resume();
  req.on('end', () => {
    res.statusCode = status;
    if (name) res.setHeader('x-upstream', name);
    res.end(body);
  });
}
