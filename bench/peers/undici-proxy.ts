// A minimal Node reverse proxy: node:http server, one undici Pool per upstream origin.
// The reference point for "what plain Node + undici does" in the bench.
//   node bench/peers/undici-proxy.ts --port 8081 --upstream http://127.0.0.1:8080
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { peerArgs, HOP_BY_HOP } from './args.ts';

const { port, upstream } = peerArgs();
const pools = new Map<string, Pool>();
const poolFor = (origin: string): Pool => {
  let pool = pools.get(origin);
  if (!pool) {
    pool = new Pool(origin, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });
    pools.set(origin, pool);
  }
  return pool;
};

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const v = headers[name];
    if (v !== undefined && !HOP_BY_HOP.has(name)) out[name] = v;
  }
  return out;
}

// Allocated once: the response object travels as `opaque`, so no closure per request.
const factory = ({
  statusCode,
  headers,
  opaque,
}: Dispatcher.StreamFactoryData<ServerResponse>): ServerResponse => {
  opaque.writeHead(statusCode, forwardable(headers));
  return opaque;
};
const done = (err: Error | null, data: Dispatcher.StreamData<ServerResponse>): void => {
  if (!err) return;
  const res = data.opaque;
  if (!res.headersSent) {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`upstream error: ${err.message}\n`);
  } else res.destroy(err);
};

const pool = poolFor(upstream.origin);
createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.stream(
    {
      method: req.method as Dispatcher.HttpMethod,
      path: req.url ?? '/',
      headers: forwardable(req.headers),
      body: hasBody ? req : null,
      opaque: res,
    },
    factory,
    done,
  );
}).listen(port, '127.0.0.1');
