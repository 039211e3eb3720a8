// A tiny app for the bench's workloads: answers every request with its name (so a caller can tell
// which service it reached). `node bench/control/app-server.ts NAME` listens on $PORT, as
// `trellis run` expects; `startAppServer` runs one inside the bench process on a free port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AppServer {
  port: number;
  close(): Promise<void>;
}

export async function startAppServer(name: string, port = 0): Promise<AppServer> {
  const body = Buffer.from(name);
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.main) {
  const port = Number(process.env.PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error('PORT must be set (trellis run sets it)');
  const app = await startAppServer(process.argv[2] ?? 'app', port);
  const stop = (): void => void app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
