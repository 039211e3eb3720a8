// The HTTP/2 upstream transport: resets, refused streams, one multiplexed connection, GOAWAY
// reconnects, connect failures, early responses and large bodies, through the proxy.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { testRequest } from '../proxy/testing.ts';
import type { ResponseController } from '../proxy/types.ts';
import { createHttp2Upstream } from './upstream.ts';
import {
  freePort,
  listen,
  makeCert,
  portOf,
  run,
  startH2cServer,
  startProxy,
  type TestProxy,
} from './test-support.ts';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;
const big = randomBytes(8 << 20);

interface Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** RST_STREAM code the stream closed with (0: cleanly). */
  rstCode: number;
}

function request(client: http2.ClientHttp2Session, path: string, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':path': path, ':method': body ? 'POST' : 'GET' });
    req.end(body);
    let headers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (headers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () =>
      resolve({
        status: Number(headers[':status']),
        headers,
        body: Buffer.concat(chunks),
        rstCode: req.rstCode ?? -1,
      }),
    );
    req.on('error', reject);
  });
}

describe('HTTP/2 upstream through the proxy', () => {
  let upstream: Awaited<ReturnType<typeof startH2cServer>>;
  let proxy: TestProxy;
  let client: http2.ClientHttp2Session;
  let upstreamConnections = 0;
  before(async () => {
    upstream = await startH2cServer((stream, headers) => {
      const path = String(headers[':path']);
      if (path === '/reset-before-headers') return void stream.close(NGHTTP2_INTERNAL_ERROR);
      if (path === '/refuse') return void stream.close(NGHTTP2_REFUSED_STREAM);
      if (path === '/reset-mid-body') {
        stream.respond({ ':status': 200 });
        stream.write('partial');
        // destroy(err), not close(code): node's close() would send END_STREAM first.
        setTimeout(() => stream.destroy(new Error('upstream gives up')), 20);
        return;
      }
      if (path === '/goaway') {
        stream.respond({ ':status': 200 });
        stream.end('bye', () => stream.session?.goaway());
        return;
      }
      if (path === '/too-large') {
        // Answers without reading the request body.
        stream.respond({ ':status': 413 });
        stream.end('no thanks');
        return;
      }
      if (path === '/big') {
        stream.respond({ ':status': 200 });
        stream.end(big);
        return;
      }
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end(path);
      }, 20);
    });
    proxy = await startProxy(upstream.port, {
      upstream: { onConnectionCount: (d) => (upstreamConnections += d) },
    });
    client = http2.connect(`http://127.0.0.1:${proxy.port}`);
    client.on('error', () => {});
  });
  after(async () => {
    client.close();
    await proxy.close();
    await upstream.close();
  });

  it('multiplexes many concurrent streams over one upstream connection', async () => {
    const clients = Array.from({ length: 4 }, () => http2.connect(`http://127.0.0.1:${proxy.port}`));
    try {
      const replies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => request(clients[i % clients.length]!, `/m/${i}`)),
      );
      replies.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `/m/${i}`);
      });
      assert.equal(upstream.connections(), 1);
      assert.equal(upstreamConnections, 1);
      assert.equal(proxy.upstream.connected, true);
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('a reset before the response head becomes 502 TRELLIS_UPSTREAM_RESET', async () => {
    const r = await request(client, '/reset-before-headers');
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_RESET');
    assert.equal((await request(client, '/after-reset')).status, 200);
  });

  it('a refused stream is told apart: 503 TRELLIS_UPSTREAM_REFUSED_STREAM', async () => {
    const r = await request(client, '/refuse');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_REFUSED_STREAM');
  });

  it('a reset mid-body resets the client stream; the proxy stays up', async () => {
    await assert.rejects(request(client, '/reset-mid-body'), {
      code: 'ERR_HTTP2_STREAM_ERROR',
      message: /NGHTTP2_INTERNAL_ERROR/,
    });
    assert.equal((await request(client, '/after-mid-reset')).status, 200);
    assert.equal(upstream.connections(), 1);
  });

  it('an upstream GOAWAY leads to a fresh connection for the next request', async () => {
    assert.equal((await request(client, '/goaway')).body.toString(), 'bye');
    // The GOAWAY frame may trail the response by a moment (bounded wait).
    for (let i = 0; i < 100 && proxy.upstream.connected; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await request(client, '/after-goaway')).status, 200);
    assert.equal(upstream.connections(), 2);
    // The old session closes once its streams are done (bounded wait).
    for (let i = 0; i < 100 && upstreamConnections !== 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(upstreamConnections, 1);
  });

  it('an answer sent before the request body is read: small rest drained, large rest reset', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-h2-early-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const bigFile = join(dir, 'big.bin');
    await writeFile(bigFile, big);
    const url = `http://127.0.0.1:${proxy.port}/too-large`;
    // The rest of a small body is read and dropped: the client finishes its upload, no reset.
    // (Not curl: curl 7.x cuts its upload short with END_STREAM once the answer is in, which
    // nghttp2 rightly resets as PROTOCOL_ERROR since content-length is not met.)
    const small = await request(client, '/too-large', big.subarray(0, 512 << 10));
    assert.equal(small.status, 413);
    assert.equal(small.body.toString(), 'no thanks');
    assert.equal(small.rstCode, 0);
    // A large one gets RST_STREAM NO_ERROR after the complete response (END_STREAM first).
    const n = await run('nghttp', ['-v', '-d', bigFile, url]);
    assert.equal(n.code, 0, n.stderr);
    assert.match(n.stdout, /:status: 413/);
    assert.match(n.stdout, /no thanks/);
    const endStream = n.stdout.search(/recv DATA frame <length=\d+, flags=0x01/);
    const rst = n.stdout.search(/recv RST_STREAM frame[^\n]*\n\s*\(error_code=NO_ERROR/);
    assert.ok(endStream >= 0 && rst > endStream, n.stdout.slice(-2000));
  });

  it('an 8 MiB response arrives intact', async () => {
    const r = await request(client, '/big');
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(big));
  });
});

describe('HTTP/2 upstream flow control', () => {
  it('a handler that returns false stops the flow until resume()', async (t) => {
    const upstream = await startH2cServer((stream) => {
      stream.respond({ ':status': 200 });
      stream.end(big);
    });
    const up = createHttp2Upstream({ address: '127.0.0.1', port: upstream.port }, { connectTimeoutMs: 2000 });
    t.after(async () => {
      await up.close();
      await upstream.close();
    });
    let received = 0;
    let paused = true;
    let controller: ResponseController | null = null;
    const done = new Promise<number>((resolve, reject) => {
      up.dispatch(
        testRequest({ authority: 'up', path: '/big', protocol: 'http2', listener: 't', startTime: 0 }),
        null,
        {
          onResponseStart: (_s, _h, c) => (controller = c),
          onResponseData: (chunk) => {
            received += chunk.length;
            return !paused;
          },
          onResponseEnd: () => resolve(received),
          onResponseError: reject,
        },
      );
    });
    // While paused, at most the stream window (1 MiB) plus buffered chunks arrive (bounded wait).
    for (let i = 0; i < 20 && received === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(received > 0 && received < 3 << 20, `received ${received} bytes while paused`);
    paused = false;
    assert.ok(controller);
    (controller as ResponseController).resume();
    assert.equal(await done, big.length);
  });
});

describe('HTTP/2 upstream connect failures', () => {
  it('connection refused: 503 TRELLIS_UPSTREAM_CONNECT_FAILED with a text body', async (t) => {
    const proxy = await startProxy(await freePort());
    t.after(() => proxy.close());
    const r = await run('curl', ['-sS', '-i', '--http2-prior-knowledge', `http://127.0.0.1:${proxy.port}/x`]);
    assert.match(r.stdout, /^HTTP\/2 503/);
    assert.match(r.stdout, /x-trellis-error: TRELLIS_UPSTREAM_CONNECT_FAILED/);
    assert.match(r.stdout, /could not connect to 127\.0\.0\.1:\d+/);
  });

  it('a TLS upstream that never handshakes: 503 TRELLIS_UPSTREAM_CONNECT_TIMEOUT', async (t) => {
    const cert = await makeCert();
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await listen(silent);
    const proxy = await startProxy(portOf(silent), {
      upstream: { connectTimeoutMs: 200, tls: { ca: cert.cert, servername: 'localhost' } },
    });
    t.after(async () => {
      await proxy.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      await cert.cleanup();
    });
    const client = http2.connect(`http://127.0.0.1:${proxy.port}`);
    t.after(() => client.close());
    const r = await request(client, '/x');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_CONNECT_TIMEOUT');
  });
});
