// HTTP/2 over TLS (ALPN h2) on both sides of the proxy.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { listen, makeCert, portOf, run, startProxy, type TestProxy } from './test-support.ts';

describe('HTTP/2 over TLS with ALPN h2', () => {
  let cert: Awaited<ReturnType<typeof makeCert>>;
  let upstream: http2.Http2SecureServer;
  let proxy: TestProxy;
  const upstreamSessions = new Set<http2.ServerHttp2Session>();
  before(async () => {
    cert = await makeCert();
    upstream = http2.createSecureServer({ key: cert.key, cert: cert.cert });
    upstream.on('session', (s) => {
      upstreamSessions.add(s);
      s.once('close', () => upstreamSessions.delete(s));
    });
    upstream.on('stream', (stream, headers) => {
      const alpn = stream.session?.alpnProtocol ?? '';
      stream.respond({ ':status': 201, 'x-upstream-alpn': alpn, 'x-path': String(headers[':path']) });
      stream.end('over tls');
    });
    await listen(upstream);
    proxy = await startProxy(portOf(upstream), {
      tls: { key: cert.key, cert: cert.cert },
      upstream: { tls: { ca: cert.cert, servername: 'localhost' } },
    });
  });
  after(async () => {
    await proxy.close();
    for (const s of upstreamSessions) s.destroy();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    await cert.cleanup();
  });

  it('curl negotiates h2 with the proxy, which speaks h2 over TLS upstream', async () => {
    const r = await run('curl', [
      '-sS',
      '-i',
      '--http2',
      '--cacert',
      cert.certPath,
      '-w',
      '\n%{http_version}',
      `https://127.0.0.1:${proxy.port}/secure?x=1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/2 201/);
    assert.match(r.stdout, /x-upstream-alpn: h2/);
    assert.match(r.stdout, /x-path: \/secure\?x=1/);
    assert.match(r.stdout, /over tls\n2$/);
  });

  it('node:http2 client over TLS', async () => {
    const client = http2.connect(`https://127.0.0.1:${proxy.port}`, { ca: cert.cert });
    try {
      const req = client.request({ ':path': '/n' });
      req.end();
      const [status, body] = await new Promise<[number, string]>((resolve, reject) => {
        let s = 0;
        let b = '';
        req.on('response', (h) => (s = Number(h[':status'])));
        req.setEncoding('utf8');
        req.on('data', (c: string) => (b += c));
        req.on('end', () => resolve([s, b]));
        req.on('error', reject);
      });
      assert.equal(status, 201);
      assert.equal(body, 'over tls');
      assert.equal(proxy.sessions.at(-1)?.alpnProtocol, 'h2');
    } finally {
      client.close();
    }
  });
});
