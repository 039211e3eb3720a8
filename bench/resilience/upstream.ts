// One upstream instance of the resilience scenario: an HTTP/1.1 server process answering every
// request with the same 1 KB body as the proxy scenario's nginx. The bench makes it slow through a
// side endpoint on the same port (answered at once, never delayed), and counts what it served:
//   GET /__bench/delay?ms=200   from now on every answer waits 200 ms (ms=0: fast again)
//   GET /__bench/stats          {"requests", "delayed", "delay_ms"} as JSON
//
//   node bench/resilience/upstream.ts --port 0
// prints one JSON line {"port": N} once it listens (a restart passes that port back).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

/** The proxy scenario's body: exactly 1024 bytes. */
export const UPSTREAM_BODY = Buffer.from('x'.repeat(1023) + '\n', 'latin1');
const CONTROL_PREFIX = '/__bench/';
const MAX_DELAY_MS = 60_000;

export interface UpstreamStats {
  requests: number;
  delayed: number;
  delay_ms: number;
}

export function createUpstream(): http.Server {
  const stats: UpstreamStats = { requests: 0, delayed: 0, delay_ms: 0 };
  const answer = (res: http.ServerResponse): void => {
    if (res.destroyed) return; // the proxy gave up on this try (per-try timeout, hedge lost)
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': UPSTREAM_BODY.length });
    res.end(UPSTREAM_BODY);
  };
  const server = http.createServer((req, res) => {
    req.resume();
    const url = req.url ?? '/';
    if (url.startsWith(CONTROL_PREFIX)) {
      control(new URL(url, 'http://upstream'), stats, res);
      return;
    }
    stats.requests++;
    if (stats.delay_ms > 0) {
      stats.delayed++;
      setTimeout(answer, stats.delay_ms, res);
    } else answer(res);
  });
  // The proxy keeps idle connections 60 s; closing them earlier would add races of its own.
  server.keepAliveTimeout = 300_000;
  return server;
}

function control(url: URL, stats: UpstreamStats, res: http.ServerResponse): void {
  if (url.pathname === '/__bench/delay') {
    const ms = Number(url.searchParams.get('ms'));
    if (!Number.isFinite(ms) || ms < 0 || ms > MAX_DELAY_MS) {
      res.writeHead(400).end(`ms must be in [0, ${MAX_DELAY_MS}]\n`);
      return;
    }
    stats.delay_ms = ms;
  } else if (url.pathname !== '/__bench/stats') {
    res.writeHead(404).end();
    return;
  }
  const body = JSON.stringify(stats);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('--port must be a port number');
  const server = createUpstream();
  server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
}
