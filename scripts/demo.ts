// `npm run demo`: two versions of a "reviews" service, one Trellis proxy in front of them with
// examples/proxy.yaml (90/10 canary, `end-user: jason` pinned to v2), and a burst of traffic
// that shows the split. Leaves the proxy running until Ctrl-C so you can try it yourself.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const servers = [9081, 9082].map((port, i) =>
  http
    .createServer((_req, res) => res.end(JSON.stringify({ service: 'reviews', version: `v${i + 1}` }) + '\n'))
    .listen(port, '127.0.0.1'),
);
// bin/trellis.js runs the build in dist/ (made by `npm ci`), or the sources when they are newer.
const proxy = spawn(process.execPath, ['bin/trellis.js', 'proxy', '--config', 'examples/proxy.yaml'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'pipe'],
});
const stop = (): void => {
  proxy.kill('SIGTERM');
  for (const s of servers) s.close();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
proxy.on('exit', (code) => {
  for (const s of servers) s.close();
  process.exitCode = code ?? 0;
});

await new Promise<void>((resolve, reject) => {
  let seen = '';
  proxy.stderr.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    if (seen.includes('"admin listening"')) resolve();
  });
  proxy.once('exit', () => reject(new Error(`proxy exited:\n${seen}`)));
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
function get(headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(
        {
          host: '127.0.0.1',
          port: 15001,
          path: '/reviews/1',
          headers: { host: 'reviews', ...headers },
          agent,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        },
      )
      .on('error', reject);
  });
}

const counts: Record<string, number> = {};
for (let i = 0; i < 1000; i++) {
  const { version } = JSON.parse(await get()) as { version: string };
  counts[version] = (counts[version] ?? 0) + 1;
}
const jason = JSON.parse(await get({ 'end-user': 'jason' })) as { version: string };
agent.destroy();
process.stdout.write(`
Trellis demo: 1000 requests to http://reviews/ through the proxy on 127.0.0.1:15001
  canary split (configured 90/10): v1 ${counts.v1 ?? 0}, v2 ${counts.v2 ?? 0}
  request with end-user: jason went to ${jason.version}

Try it:
  curl -x http://127.0.0.1:15001 http://reviews/            # HTTP_PROXY style
  curl -H 'end-user: jason' -H 'host: reviews' 127.0.0.1:15001/
  curl --http2-prior-knowledge -H 'host: reviews' 127.0.0.1:15001/
  curl 127.0.0.1:15000/metrics | grep trellis_requests_total
  curl 127.0.0.1:15000/config_dump
Edit examples/proxy.yaml (e.g. weights 50/50) and the proxy reloads it. Ctrl-C stops everything.
`);
