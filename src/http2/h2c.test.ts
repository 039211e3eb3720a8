// h2c prior knowledge through the proxy, driven by curl, nghttp and node:http2.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, startH2cServer, startProxy, type TestProxy } from './test-support.ts';

type Upstream = Awaited<ReturnType<typeof startH2cServer>>;

function upstreamHandler(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = String(headers[':path']);
  if (path.startsWith('/status/')) {
    stream.respond({ ':status': Number(path.slice(8)), 'x-upstream': 'yes' });
    stream.end('status body');
    return;
  }
  const chunks: Buffer[] = [];
  let requestTrailers: http2.IncomingHttpHeaders = {};
  stream.on('trailers', (t) => (requestTrailers = t));
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    stream.respond(
      {
        ':status': 200,
        'x-req-method': String(headers[':method']),
        'x-req-path': path,
        'x-req-authority': String(headers[':authority']),
        'x-req-foo': String(headers['x-foo'] ?? ''),
        'x-req-trailer': String(requestTrailers['x-req-t'] ?? ''),
        'content-type': String(headers['content-type'] ?? 'application/octet-stream'),
      },
      { waitForTrailers: true },
    );
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-res-t': 'done' }));
    stream.end(Buffer.concat(chunks));
  });
}

describe('h2c prior knowledge through the proxy', () => {
  let upstream: Upstream;
  let proxy: TestProxy;
  let dir: string;
  before(async () => {
    upstream = await startH2cServer(upstreamHandler);
    proxy = await startProxy(upstream.port);
    dir = await mkdtemp(join(tmpdir(), 'trellis-h2c-'));
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('curl: headers, pseudo-headers and status pass through', async () => {
    const url = `http://127.0.0.1:${proxy.port}/echo?q=1`;
    const r = await run('curl', [
      '-sS',
      '-i',
      '--http2-prior-knowledge',
      '-H',
      'x-foo: bar',
      '-w',
      '\n%{http_version}',
      url,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/2 200/);
    assert.match(r.stdout, /x-req-method: GET/);
    assert.match(r.stdout, /x-req-path: \/echo\?q=1/);
    assert.match(r.stdout, new RegExp(`x-req-authority: 127.0.0.1:${proxy.port}`));
    assert.match(r.stdout, /x-req-foo: bar/);
    assert.match(r.stdout, /\n2$/);
    for (const status of [404, 418, 503]) {
      const s = await run('curl', [
        '-sS',
        '-i',
        '--http2-prior-knowledge',
        `http://127.0.0.1:${proxy.port}/status/${status}`,
      ]);
      assert.match(s.stdout, new RegExp(`^HTTP/2 ${status}`));
      assert.match(s.stdout, /x-upstream: yes/);
      assert.doesNotMatch(s.stdout, /x-trellis-error/);
      assert.match(s.stdout, /status body$/);
    }
  });

  it('curl: a 1 MiB POST body is echoed back intact', async () => {
    const body = randomBytes(1 << 20);
    const inPath = join(dir, 'in.bin');
    const outPath = join(dir, 'out.bin');
    await writeFile(inPath, body);
    const r = await run('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '--data-binary',
      `@${inPath}`,
      '-o',
      outPath,
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${proxy.port}/echo`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '200');
    const out = await readFile(outPath);
    assert.equal(out.length, body.length);
    assert.equal(
      createHash('sha256').update(out).digest('hex'),
      createHash('sha256').update(body).digest('hex'),
    );
  });

  it('nghttp: GET and POST through the proxy', async () => {
    const inPath = join(dir, 'nghttp.txt');
    await writeFile(inPath, 'hello from nghttp');
    const r = await run('nghttp', [
      '-v',
      '-H',
      'x-foo: ng',
      '-d',
      inPath,
      `http://127.0.0.1:${proxy.port}/echo`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /:status: 200/);
    assert.match(r.stdout, /x-req-method: POST/);
    assert.match(r.stdout, /x-req-foo: ng/);
    assert.match(r.stdout, /hello from nghttp/);
    assert.match(r.stdout, /x-res-t: done/); // response trailers pass
    const g = await run('nghttp', ['-v', `http://127.0.0.1:${proxy.port}/status/204`]);
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /:status: 204/);
  });

  it('node:http2: request and response trailers pass through', async () => {
    const client = http2.connect(`http://127.0.0.1:${proxy.port}`);
    try {
      const req = client.request({ ':method': 'POST', ':path': '/echo' }, { waitForTrailers: true });
      req.on('wantTrailers', () => req.sendTrailers({ 'x-req-t': 'sent' }));
      req.end('abc');
      const [headers, body, trailers] = await new Promise<
        [http2.IncomingHttpHeaders, string, http2.IncomingHttpHeaders]
      >((resolve, reject) => {
        let h: http2.IncomingHttpHeaders = {};
        let t: http2.IncomingHttpHeaders = {};
        let b = '';
        req.on('response', (x) => (h = x));
        req.on('trailers', (x) => (t = x));
        req.setEncoding('utf8');
        req.on('data', (c: string) => (b += c));
        req.on('end', () => resolve([h, b, t]));
        req.on('error', reject);
      });
      assert.equal(headers[':status'], 200);
      assert.equal(headers['x-req-trailer'], 'sent');
      assert.equal(body, 'abc');
      assert.equal(trailers['x-res-t'], 'done');
    } finally {
      client.close();
    }
  });
});
