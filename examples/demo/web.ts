// The demo's front end. It knows nothing of Trellis: it calls other services by name through the
// HTTP proxy its sidecar gives it (HTTP_PROXY for HTTP, grpc_proxy for gRPC, CONNECT for TCP).
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { EnvHttpProxyAgent, fetch } from 'undici';
import { Ratings, type RatingReply } from './ratings-proto.ts';

const dispatcher = new EnvHttpProxyAgent();
const ratings = new Ratings('ratings:50051', grpc.credentials.createInsecure());

function rating(product: string): Promise<RatingReply> {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + 2000);
    (
      ratings as unknown as {
        Get: (r: object, o: object, cb: (e: Error | null, v: RatingReply) => void) => void;
      }
    ).Get({ product }, { deadline }, (err, reply) => (err ? reject(err) : resolve(reply)));
  });
}

/** A TCP service through the sidecar: CONNECT stock:7000, then the line protocol. */
function stock(item: string): Promise<string> {
  const proxy = new URL(process.env.HTTP_PROXY ?? 'http://127.0.0.1:15001');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: proxy.hostname,
      port: proxy.port,
      method: 'CONNECT',
      path: 'stock:7000',
    });
    req.setTimeout(2000, () => req.destroy(new Error('stock timed out')));
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) return (socket.destroy(), reject(new Error(`CONNECT ${res.statusCode}`)));
      socket.setEncoding('utf8');
      let line = '';
      socket.on('data', (d: string) => {
        line += d;
        if (!line.includes('\n')) return;
        socket.end();
        resolve(line.trim());
      });
      socket.once('error', reject);
      socket.write(`GET ${item}\n`);
    });
    req.once('error', reject);
    req.end();
  });
}

const server = http.createServer((req, res) => {
  void (async () => {
    const user = req.headers['end-user'];
    const headers: Record<string, string> = typeof user === 'string' ? { 'end-user': user } : {};
    try {
      const [reviews, stars, inStock] = await Promise.all([
        fetch('http://reviews:9080/reviews/1', { dispatcher, headers }).then(async (r) => {
          if (!r.ok) throw new Error(`reviews answered ${r.status}`);
          return (await r.json()) as { version: string };
        }),
        rating('widget'),
        stock('widget'),
      ]);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ reviews: reviews.version, stars: stars.stars, stock: inStock })}\n`);
    } catch (err) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
    }
  })();
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
