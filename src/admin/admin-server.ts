// The proxy's admin endpoint, on its own port: probes, Prometheus metrics, the running config.
// Plain node:http; it is not on the data path.
//   GET /live         200 "ok" while the process runs
//   GET /ready        200 "ready" when state.ready(), else 503 "not ready" (e.g. while draining)
//   GET /metrics      Prometheus text (500 when collection fails)
//   GET /config_dump  {version, config} as indented JSON
// HEAD is answered as GET without a body; other methods get 405, unknown paths 404.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { TrellisError } from '../errors.ts';

// Not `import http from 'node:http'`: an ESM import of node:http reads every export, and its lazy
// WebSocket/MessageEvent getters load Node's bundled undici (+12 MB of RSS, measured: bench/README.md).
const { createServer } = process.getBuiltinModule('node:http');

export interface AdminState {
  ready(): boolean;
  /** {version, config} of the config in use. */
  configDump(): unknown;
  metrics(): Promise<string>;
  metricsContentType: string;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
}

type Handler = (state: AdminState, res: http.ServerResponse) => void | Promise<void>;

const routes: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['/live', (_state, res) => send(res, 200, 'text/plain; charset=utf-8', 'ok\n')],
  [
    '/ready',
    (state, res) =>
      state.ready()
        ? send(res, 200, 'text/plain; charset=utf-8', 'ready\n')
        : send(res, 503, 'text/plain; charset=utf-8', 'not ready\n'),
  ],
  ['/metrics', async (state, res) => send(res, 200, state.metricsContentType, await state.metrics())],
  [
    '/config_dump',
    (state, res) =>
      send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(state.configDump(), null, 2)}\n`),
  ],
]);

export function startAdminServer(address: string, port: number, state: AdminState): Promise<AdminServer> {
  const server = createServer((req, res) => {
    void handle(state, req, res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      reject(
        new TrellisError(
          'TRELLIS_ADMIN_LISTEN_FAILED',
          `admin endpoint cannot listen on ${address}:${port}: ${err.message}`,
          { cause: err },
        ),
      );
    });
    server.listen(port, address, () => {
      server.removeAllListeners('error');
      server.on('error', () => {}); // after listen, errors belong to single connections
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

async function handle(state: AdminState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const handler = routes.get(q === -1 ? url : url.slice(0, q));
  if (handler === undefined) {
    send(res, 404, 'text/plain; charset=utf-8', `not found; try /live, /ready, /metrics, /config_dump\n`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  try {
    await handler(state, res);
  } catch (err) {
    const code = err instanceof TrellisError ? err.code : 'TRELLIS_ADMIN_ERROR';
    const message = err instanceof Error ? err.message : String(err);
    if (res.headersSent) res.destroy();
    else send(res, 500, 'text/plain; charset=utf-8', `${code}: ${message}\n`);
  }
}

function send(res: http.ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
