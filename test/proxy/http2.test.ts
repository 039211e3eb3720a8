// HTTP/2 through the real proxy process: h2c prior knowledge on a detect and on an http2
// listener, to HTTP/1 and HTTP/2 upstreams; TLS with ALPN (h2 and http/1.1 on one listener).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  cluster,
  curl,
  run,
  startHttp2Upstream,
  startHttpUpstream,
  startProxy,
  type ProxyProcess,
  type Upstream,
} from './harness.ts';
import { makeCert, type TestCert } from '../support/tls.ts';

let proxy: ProxyProcess;
let h1: Upstream;
let h2: Upstream;
let tlsCert: TestCert | undefined;

before(async () => {
  tlsCert = makeCert();
  const key = tlsCert.keyPath;
  const cert = tlsCert.certPath;
  h1 = await startHttpUpstream((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(`h1 HTTP/${req.httpVersion} ${req.method} ${req.url} ${n}`));
  });
  h2 = await startHttp2Upstream((stream, headers) => {
    let n = 0;
    stream.on('error', () => {});
    stream.on('data', (c: Buffer) => (n += c.length));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'x-upstream': 'h2' });
      stream.end(`h2 ${headers[':method']} ${headers[':path']} ${n}`);
    });
  });
  const routeTable = 'rt';
  proxy = await startProxy({
    version: 'http2-e2e',
    listeners: [
      { name: 'detect', direction: 'outbound', port: 0, protocol: 'detect', routeTable },
      { name: 'h2', direction: 'outbound', port: 0, protocol: 'http2', routeTable },
      { name: 'tls', direction: 'outbound', port: 0, protocol: 'detect', routeTable, tls: { cert, key } },
    ],
    routeTables: [
      {
        name: routeTable,
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [
              { match: { path: { prefix: '/to-h2' } }, backends: [{ cluster: 'h2' }] },
              { backends: [{ cluster: 'h1' }] },
            ],
          },
        ],
      },
    ],
    clusters: [cluster('h1', [h1.port]), cluster('h2', [h2.port], { protocol: 'http2' })],
  });
});

after(async () => {
  await proxy?.stop();
  await h1?.close();
  await h2?.close();
  tlsCert?.cleanup();
});

const FMT = ['-w', '\\n%{http_version} %{response_code}'];

for (const listener of ['detect', 'h2'] as const) {
  test(`h2c prior knowledge on the ${listener} listener to an HTTP/1 upstream`, async () => {
    const r = await curl([
      '--http2-prior-knowledge',
      ...FMT,
      '--data-binary',
      'abcdef',
      `http://127.0.0.1:${proxy.ports[listener]}/to-h1/x?y=1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'h1 HTTP/1.1 POST /to-h1/x?y=1 6\n2 200');
  });

  test(`h2c prior knowledge on the ${listener} listener to an HTTP/2 upstream`, async () => {
    const r = await curl([
      '--http2-prior-knowledge',
      ...FMT,
      `http://127.0.0.1:${proxy.ports[listener]}/to-h2/z`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'h2 GET /to-h2/z 0\n2 200');
  });
}

test('HTTP/1.1 on the detect listener reaches an HTTP/2 upstream', async () => {
  const r = await curl(['--http1.1', ...FMT, `http://127.0.0.1:${proxy.ports.detect}/to-h2/plain`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'h2 GET /to-h2/plain 0\n1.1 200');
});

test('TLS listener: HTTP/2 by ALPN', async () => {
  const base = `https://127.0.0.1:${proxy.ports.tls}`;
  const a = await curl(['--http2', '-k', ...FMT, `${base}/to-h1/tls`]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, 'h1 HTTP/1.1 GET /to-h1/tls 0\n2 200');
  const b = await curl(['--http2', '-k', ...FMT, `${base}/to-h2/tls`]);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(b.stdout, 'h2 GET /to-h2/tls 0\n2 200');
});

test('TLS listener: HTTP/1.1 by ALPN on the same port', async () => {
  const r = await curl(['--http1.1', '-k', ...FMT, `https://127.0.0.1:${proxy.ports.tls}/to-h1/tls1`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'h1 HTTP/1.1 GET /to-h1/tls1 0\n1.1 200');
});

test('h2c: 20 concurrent streams on one connection (nghttp)', async () => {
  // curl 7.88's --parallel with prior knowledge breaks even against a plain Node server: use nghttp.
  const urls: string[] = [];
  for (let i = 0; i < 20; i++) urls.push(`http://127.0.0.1:${proxy.ports.h2}/to-h2/p${i}`);
  const out = await run('nghttp', ['-v', '-n', ...urls]);
  assert.equal(out.match(/recv \(stream_id=\d+\) :status: 200/g)?.length, 20, out.slice(-2000));
  assert.equal(out.match(/send HEADERS frame/g)?.length, 20);
});

test('HTTP/2 upstream connections are counted per cluster: one multiplexed session', async () => {
  const r = await curl([
    '--http2-prior-knowledge',
    ...FMT,
    `http://127.0.0.1:${proxy.ports.h2}/to-h2/metrics`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const { body } = await proxy.adminGet('/metrics');
  assert.match(body, /^trellis_upstream_connections_total\{cluster="h2"\} 1$/m);
  assert.match(body, /^trellis_upstream_connections_active\{cluster="h2"\} 1$/m);
});
