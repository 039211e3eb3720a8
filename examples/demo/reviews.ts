// The demo's HTTP service with two versions: it says which version answered. v2 is a little slower,
// so a canary's latency shows in the metrics.
import http from 'node:http';

const version = process.env.VERSION ?? 'v1';
const server = http.createServer((req, res) => {
  const body = JSON.stringify({
    service: 'reviews',
    version,
    path: req.url,
    user: req.headers['end-user'] ?? null,
  });
  const send = (): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${body}\n`);
  };
  if (version === 'v2') setTimeout(send, 5);
  else send();
});
server.listen(Number(process.env.PORT ?? 9080), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
