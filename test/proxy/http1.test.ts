// HTTP/1.1 through the real proxy process: keep-alive, pipelining, chunked bodies both ways,
// Expect: 100-continue, HEAD, 204, absolute-form (proxy) requests and the proxy's own errors.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  closedPort,
  cluster,
  curl,
  httpRequest,
  startHttpUpstream,
  startNamedUpstream,
  startProxy,
  type ProxyProcess,
  type Upstream,
} from './harness.ts';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;
const streamed = randomBytes(MiB);

let proxy: ProxyProcess;
let app: Upstream;
let reviews: Upstream;
let port = 0;
/** transfer-encoding header the app saw on the last /app/sha request. */
let lastTransferEncoding: string | undefined;

before(async () => {
  app = await startHttpUpstream((req, res) => {
    const url = req.url ?? '/';
    if (url === '/app/sha') {
      const h = createHash('sha256');
      lastTransferEncoding = req.headers['transfer-encoding'];
      req.on('data', (c: Buffer) => h.update(c));
      req.on('end', () => res.end(h.digest('hex')));
      return;
    }
    req.resume();
    if (url === '/app/stream') {
      // No content-length: Node frames it chunked. Written in 64 KiB pieces across ticks.
      let off = 0;
      const step = (): void => {
        if (off >= streamed.length) return void res.end();
        res.write(streamed.subarray(off, off + 64 * 1024));
        off += 64 * 1024;
        setImmediate(step);
      };
      return step();
    }
    if (url === '/app/head') {
      res.setHeader('content-length', '5');
      return void res.end(req.method === 'HEAD' ? undefined : 'hello');
    }
    if (url === '/app/nocontent') {
      res.statusCode = 204;
      return void res.end();
    }
    res.end(`app ${req.method} ${url}`);
  });
  reviews = await startNamedUpstream('reviews');
  const down = await closedPort();
  proxy = await startProxy({
    version: 'http1-e2e',
    listeners: [{ name: 'main', direction: 'outbound', port: 0, routeTable: 'rt', protocol: 'http1' }],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          { name: 'reviews', domains: ['reviews'], routes: [{ backends: [{ cluster: 'reviews' }] }] },
          {
            name: 'local',
            domains: ['*'],
            routes: [
              { match: { path: { prefix: '/app' } }, backends: [{ cluster: 'app' }] },
              { match: { path: { prefix: '/unhealthy' } }, backends: [{ cluster: 'sick' }] },
              { match: { path: { prefix: '/down' } }, backends: [{ cluster: 'down' }] },
            ],
          },
        ],
      },
    ],
    clusters: [
      cluster('app', [app.port]),
      cluster('reviews', [reviews.port]),
      { name: 'sick', endpoints: [{ address: '127.0.0.1', port: app.port, healthy: false }] },
      cluster('down', [down]),
    ],
  });
  port = proxy.ports.main!;
});

after(async () => {
  await proxy?.stop();
  await app?.close();
  await reviews?.close();
});

test('keep-alive: 50 sequential requests share one client connection and few upstream ones', async () => {
  let clientSockets = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const before = app.connections();
  try {
    for (let i = 0; i < 50; i++) {
      const res = await new Promise<{ status: number; body: string; reused: boolean }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/app/ka/${i}`, agent }, (r) => {
          let body = '';
          r.setEncoding('utf8');
          r.on('data', (c: string) => (body += c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body, reused: req.reusedSocket }));
        });
        req.on('error', reject);
      });
      assert.equal(res.status, 200);
      assert.equal(res.body, `app GET /app/ka/${i}`);
      if (!res.reused) clientSockets++;
    }
  } finally {
    agent.destroy();
  }
  assert.equal(clientSockets, 1, 'the proxy kept the client connection open');
  assert.ok(app.connections() - before <= 2, `upstream connections: ${app.connections() - before}`);
});

test('pipelining: three requests written at once get three responses in order', async () => {
  const socket = net.connect(port, '127.0.0.1');
  const reqs = ['/app/p1', '/app/p2', '/app/p3']
    .map((p, i) => `GET ${p} HTTP/1.1\r\nHost: x\r\n${i === 2 ? 'Connection: close\r\n' : ''}\r\n`)
    .join('');
  socket.write(reqs);
  const text = await new Promise<string>((resolve, reject) => {
    let out = '';
    socket.setEncoding('latin1');
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (c: string) => (out += c));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
  socket.destroy();
  const statuses = text.match(/HTTP\/1\.1 \d{3}/g) ?? [];
  assert.deepEqual(statuses, ['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
  const i1 = text.indexOf('app GET /app/p1');
  const i2 = text.indexOf('app GET /app/p2');
  const i3 = text.indexOf('app GET /app/p3');
  assert.ok(i1 >= 0 && i1 < i2 && i2 < i3, text);
});

test('chunked request body (1 MiB) arrives intact', async () => {
  const body = randomBytes(MiB);
  const file = join(proxy.dir, 'body.bin');
  await writeFile(file, body);
  const r = await curl([
    '-H',
    'Transfer-Encoding: chunked',
    '--data-binary',
    `@${file}`,
    `http://127.0.0.1:${port}/app/sha`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, sha256(body));
  assert.equal(lastTransferEncoding, 'chunked');
});

test('chunked response (1 MiB streamed by the upstream) arrives intact', async () => {
  const out = join(proxy.dir, 'stream.bin');
  const hdrs = join(proxy.dir, 'stream.headers');
  const r = await curl(['-o', out, '-D', hdrs, `http://127.0.0.1:${port}/app/stream`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(sha256(await readFile(out)), sha256(streamed));
  assert.match(await readFile(hdrs, 'utf8'), /transfer-encoding: chunked/i);
});

test('Expect: 100-continue is answered without waiting for curl to give up', async () => {
  const file = join(proxy.dir, 'expect.bin');
  const body = randomBytes(4096);
  await writeFile(file, body);
  // curl waits up to --expect100-timeout for the 100; with 30 s, only a forwarded 100 lets it finish within max-time.
  const r = await curl([
    '-v',
    '--max-time',
    '8',
    '--expect100-timeout',
    '30',
    '-H',
    'Expect: 100-continue',
    '--data-binary',
    `@${file}`,
    `http://127.0.0.1:${port}/app/sha`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, sha256(body));
  assert.match(r.stderr, /HTTP\/1\.1 100 Continue/);
});

test('HEAD and 204 have no body and leave the connection usable', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const head = await httpRequest({ port, path: '/app/head', method: 'HEAD', agent });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body, '');
    const none = await httpRequest({ port, path: '/app/nocontent', agent });
    assert.equal(none.status, 204);
    assert.equal(none.body, '');
    const get = await httpRequest({ port, path: '/app/head', agent });
    assert.equal(get.body, 'hello');
  } finally {
    agent.destroy();
  }
});

test('absolute-form: curl -x and http_proxy route by the target host', async () => {
  const viaFlag = await curl(['-x', `http://127.0.0.1:${port}`, 'http://reviews/x']);
  assert.equal(viaFlag.code, 0, viaFlag.stderr);
  assert.equal(viaFlag.stdout, 'reviews GET /x');
  const viaEnv = await curl(['http://reviews/y?q=1'], {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    http_proxy: `http://127.0.0.1:${port}`,
  });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  assert.equal(viaEnv.stdout, 'reviews GET /y?q=1');
});

test('no route: 404 TRELLIS_ROUTE_NOT_FOUND', async () => {
  const r = await httpRequest({ port, path: '/nowhere' });
  assert.equal(r.status, 404);
  assert.equal(r.headers['x-trellis-error'], 'TRELLIS_ROUTE_NOT_FOUND');
});

test('only endpoint unhealthy: 503 TRELLIS_NO_HEALTHY_ENDPOINT', async () => {
  const r = await httpRequest({ port, path: '/unhealthy' });
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-trellis-error'], 'TRELLIS_NO_HEALTHY_ENDPOINT');
});

test('upstream down: 503 TRELLIS_UPSTREAM_CONNECT_FAILED', async () => {
  const r = await httpRequest({ port, path: '/down' });
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_CONNECT_FAILED');
});
