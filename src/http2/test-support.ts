// Test scaffolding for the HTTP/2 adapters: a proxy wiring serveHttp2Connection straight to
// createHttp2Upstream (no router), throwaway certificates and child-process helpers.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Dispatch } from '../proxy/types.ts';
import { listen, portOf } from '../../test/support/sockets.ts';

export { listen, portOf } from '../../test/support/sockets.ts';
export { makeCert } from '../../test/support/tls.ts';
import { type Http2ServeOptions, serveHttp2Connection } from './downstream.ts';
import { createHttp2Upstream, type Http2Upstream, type Http2UpstreamOptions } from './upstream.ts';

export interface TestProxy {
  port: number;
  upstream: Http2Upstream;
  /** Sessions accepted so far (closed ones included). */
  sessions: http2.ServerHttp2Session[];
  close(): Promise<void>;
}

export interface ProxyTls {
  key: Buffer;
  cert: Buffer;
}

/** A proxy on 127.0.0.1:0 forwarding every stream to `upstreamPort` over HTTP/2. */
export async function startProxy(
  upstreamPort: number,
  o: { tls?: ProxyTls; upstream?: Partial<Http2UpstreamOptions>; serve?: Http2ServeOptions } = {},
): Promise<TestProxy> {
  const upstream = createHttp2Upstream(
    { address: '127.0.0.1', port: upstreamPort },
    { connectTimeoutMs: 2000, ...o.upstream },
  );
  const dispatch: Dispatch = upstream.dispatch;
  const sessions: http2.ServerHttp2Session[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const scheme = o.tls ? 'https' : 'http';
  const serve = (socket: net.Socket): void => {
    sessions.push(
      serveHttp2Connection(socket, Buffer.alloc(0), { listener: 'test', dispatch, scheme, options: o.serve }),
    );
  };
  const server: net.Server = o.tls
    ? tls.createServer({ key: o.tls.key, cert: o.tls.cert, ALPNProtocols: ['h2'] }, (s) => {
        track(s);
        serve(s);
      })
    : net.createServer((s) => {
        track(s);
        serve(s);
      });
  await listen(server);
  return {
    port: portOf(server),
    upstream,
    sessions,
    async close() {
      for (const s of sessions) if (!s.destroyed) s.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await upstream.close();
    },
  };
}

/** An h2c server that counts its connections and closes every one of them on close(). */
export async function startH2cServer(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  const server = http2.createServer();
  let connections = 0;
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('connection', () => connections++);
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  await listen(server);
  return {
    port: portOf(server),
    connections: () => connections,
    async close() {
      for (const s of sessions) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on: bound, read, released. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await listen(s);
  const port = portOf(s);
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (bounded by `timeoutMs`), never rejecting on a non-zero exit. */
export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
