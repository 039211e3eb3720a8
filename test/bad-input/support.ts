// Test scaffolding for the bad-input suite: an in-process proxy built from a real config, upstreams
// that count what reaches them, and raw-socket clients that send exact bytes and read what comes back.
import http from 'node:http';
import net from 'node:net';
import { Registry } from 'prom-client';
import { ProxyStats } from '../../src/metrics/proxy-stats.ts';
import { parseConfigText } from '../../src/model/load.ts';
import { ProxyServer } from '../../src/proxy/proxy-server.ts';
import { listen, portOf } from '../support/sockets.ts';

export { listen, portOf } from '../support/sockets.ts';

export interface ListenerOptions {
  protocol?: 'http1' | 'http2' | 'http' | 'detect';
  headersTimeout?: string | number;
  idleTimeout?: string | number;
  maxHeaderBytes?: number;
}

/** A proxy config (as text, parsed like a file) with one listener routing everything to `upstreamPort`. */
export function proxyConfigText(
  upstreamPort: number,
  listener: ListenerOptions = {},
  routeTimeout = '300ms',
): string {
  const config = {
    version: 'bad-input',
    admin: { port: 0 },
    listeners: [
      { name: 'in', direction: 'outbound', port: 0, protocol: 'http1', routeTable: 'rt', ...listener },
    ],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [
              {
                name: 'hang',
                match: { path: { prefix: '/hang' } },
                backends: [{ cluster: 'up' }],
                timeout: routeTimeout,
              },
              { name: 'rest', backends: [{ cluster: 'up' }] },
            ],
          },
        ],
      },
    ],
    clusters: [
      {
        name: 'up',
        lb: { policy: 'round_robin' },
        endpoints: [{ address: '127.0.0.1', port: upstreamPort }],
      },
    ],
  };
  return JSON.stringify(config, null, 2);
}

export interface RunningProxy {
  proxy: ProxyServer;
  stats: ProxyStats;
  port: number;
  /** Client connections the listener holds open now. */
  openClientConnections(): number;
  close(): Promise<void>;
}

export async function startProxy(
  upstreamPort: number,
  listener: ListenerOptions = {},
  routeTimeout = '300ms',
): Promise<RunningProxy> {
  const config = parseConfigText(proxyConfigText(upstreamPort, listener, routeTimeout), 'bad-input.yaml');
  const stats = new ProxyStats(new Registry(), { defaultMetrics: false });
  const proxy = new ProxyServer(config, stats);
  await proxy.start();
  const port = proxy.ports()['in'];
  if (port === undefined) throw new Error('listener "in" did not bind');
  const conns = stats.listenerConnections('in');
  return { proxy, stats, port, openClientConnections: () => conns.active, close: () => proxy.drain(100) };
}

export interface CountingUpstream {
  port: number;
  /** Request heads the upstream's (strict) parser accepted. */
  requests: () => number;
  /** Requests whose body arrived complete. */
  completed: () => number;
  /** Requests neither answered nor closed yet. */
  inFlight: () => number;
  /** Bytes the upstream's parser refused (aborted bodies aside): the proxy forwarded something malformed. */
  malformed: () => number;
  /** What the upstream's parser said about each malformed input. */
  errors: string[];
  /** Paths seen, in order. */
  paths: string[];
  /** Body lengths of completed requests, in order. */
  bodies: number[];
  close(): Promise<void>;
}

/**
 * A node:http upstream (llhttp, strict) that answers 200 "ok" with the request body length, and
 * counts every request it sees. Paths under /hang are never answered.
 */
export async function startCountingUpstream(): Promise<CountingUpstream> {
  let requests = 0;
  let completed = 0;
  let inFlight = 0;
  let malformed = 0;
  const paths: string[] = [];
  const bodies: number[] = [];
  const errors: string[] = [];
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => {
    requests++;
    inFlight++;
    res.once('close', () => inFlight--);
    paths.push(req.url ?? '');
    let length = 0;
    req.on('data', (c: Buffer) => (length += c.length));
    req.on('end', () => {
      completed++;
      bodies.push(length);
      if (req.url?.startsWith('/hang')) return;
      res.setHeader('x-body-length', String(length));
      res.end('ok');
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    // An aborted body (the proxy cancelled the exchange) is expected; a parse error is not.
    if (err.code !== 'HPE_INVALID_EOF_STATE' && err.code !== 'ECONNRESET') {
      malformed++;
      const raw = (err as { rawPacket?: Buffer }).rawPacket;
      errors.push(
        `${err.code ?? ''} ${err.message} ${JSON.stringify(raw?.toString('latin1').slice(0, 300) ?? '')}`,
      );
    }
    socket.destroy();
  });
  const sockets = trackSockets(server);
  await listen(server);
  return {
    port: portOf(server),
    requests: () => requests,
    completed: () => completed,
    inFlight: () => inFlight,
    malformed: () => malformed,
    errors,
    paths,
    bodies,
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

export interface RawResult {
  /** Every byte the proxy sent back. */
  data: Buffer;
  /** The proxy closed (FIN or RST) before the wait ended. */
  closed: boolean;
  /** The close came as an error (ECONNRESET). */
  reset: boolean;
  /** ms from the first write to the close (or to the end of the wait). */
  elapsedMs: number;
}

/**
 * Sends `bytes` in one write on a fresh connection and collects the answer until the proxy closes
 * or nothing arrives for `quietMs` (`firstByteMs` before the first byte; bounded by `maxMs`).
 */
export function rawExchange(
  port: number,
  bytes: Buffer | string,
  o: { quietMs?: number; firstByteMs?: number; maxMs?: number; halfClose?: boolean } = {},
): Promise<RawResult> {
  const quietMs = o.quietMs ?? 400;
  const firstByteMs = o.firstByteMs ?? quietMs;
  const maxMs = o.maxMs ?? 3000;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1');
    const start = performance.now();
    let reset = false;
    let settled = false;
    let announcedClose = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (closed: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(quiet);
      clearTimeout(hard);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closed, reset, elapsedMs: performance.now() - start });
    };
    const armQuiet = (): void => {
      clearTimeout(quiet);
      // A response announcing `connection: close` is followed by the close: wait for it (up to maxMs).
      if (announcedClose) return;
      quiet = setTimeout(() => finish(false), chunks.length === 0 ? firstByteMs : quietMs);
    };
    const hard = setTimeout(() => finish(false), maxMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (o.halfClose) socket.end();
      armQuiet();
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      announcedClose ||= c.includes('\r\nconnection: close\r\n');
      armQuiet();
    });
    socket.on('error', () => {
      reset = true;
    });
    socket.on('close', () => finish(true));
  });
}

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3}) [^\r\n]*$/;

/**
 * Splits what the proxy sent into responses (content-length or chunked framing). Throws when the
 * bytes are not well-formed HTTP/1.1 responses; `rest` holds a trailing incomplete response.
 */
export function parseResponses(data: Buffer): { responses: ParsedResponse[]; rest: string } {
  const text = data.toString('latin1');
  const responses: ParsedResponse[] = [];
  let at = 0;
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const lines = text.slice(at, headEnd).split('\r\n');
    const m = STATUS_LINE.exec(lines[0] ?? '');
    if (m === null) throw new Error(`malformed status line: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let bodyStart = headEnd + 4;
    let body = '';
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (bodyStart + n > text.length) break;
      body = text.slice(bodyStart, bodyStart + n);
      bodyStart += n;
    } else if (headers['transfer-encoding'] === 'chunked') {
      let p = bodyStart;
      let complete = false;
      while (p < text.length) {
        const eol = text.indexOf('\r\n', p);
        if (eol < 0) break;
        const size = parseInt(text.slice(p, eol), 16);
        if (Number.isNaN(size)) throw new Error('malformed chunk size');
        if (size === 0) {
          const end = text.indexOf('\r\n\r\n', eol);
          if (end < 0) break;
          p = end + 4;
          complete = true;
          break;
        }
        if (eol + 2 + size + 2 > text.length) break;
        body += text.slice(eol + 2, eol + 2 + size);
        p = eol + 2 + size + 2;
      }
      if (!complete) break;
      bodyStart = p;
    }
    responses.push({ status: Number(m[1]), headers, body });
    at = bodyStart;
  }
  return { responses, rest: text.slice(at) };
}

/** A valid GET through the proxy on a fresh connection; resolves with the status and body. */
export function validGet(port: number, path = '/ok'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, agent: false, headers: { host: 'svc.test' } },
      (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(3000, () => req.destroy(new Error('valid request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** Waits until `cond()` holds, polling every 10 ms for at most `maxMs`. */
export async function waitFor(cond: () => boolean, maxMs = 2000): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

/** Asserts that `r` holds exactly one proxy-generated error response and that the proxy closed. */
export function assertRejected(r: RawResult, status: number, code: string): void {
  const { responses, rest } = parseResponses(r.data);
  const got = responses.map((x) => `${x.status} ${x.headers['x-trellis-error'] ?? ''}`);
  if (responses.length !== 1 || rest !== '') {
    throw new Error(
      `expected one ${status} ${code} response, got ${JSON.stringify(got)} + ${JSON.stringify(rest)}`,
    );
  }
  const res = responses[0]!;
  if (
    res.status !== status ||
    res.headers['x-trellis-error'] !== code ||
    res.headers['connection'] !== 'close'
  ) {
    throw new Error(`expected ${status} ${code} with connection: close, got ${JSON.stringify(res)}`);
  }
  if (!r.closed) throw new Error(`expected the proxy to close the connection after ${status}`);
}

/** Connects and resolves once the socket is open; errors are swallowed (the proxy may reset). */
export function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Collects what arrives on `socket` and whether it closed. */
export function collect(socket: net.Socket): { data: () => Buffer; closed: () => boolean } {
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.once('close', () => (closed = true));
  return { data: () => Buffer.concat(chunks), closed: () => closed };
}
