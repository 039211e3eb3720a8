// HTTP/1.1 and HTTP/2 compose through the protocol-neutral Dispatch: an HTTP/1.1 client reaches
// an HTTP/2 upstream, and an HTTP/2 client reaches an HTTP/1.1 upstream.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serveHttp1Connection, type DownstreamConnection } from '../http1/downstream.ts';
import { Http1Upstream } from '../http1/upstream-pool.ts';
import type { Dispatch } from '../proxy/types.ts';
import { serveHttp2Connection } from './downstream.ts';
import { listen, portOf, run, startH2cServer } from './test-support.ts';
import { createHttp2Upstream } from './upstream.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const body = randomBytes(1 << 20);

describe('HTTP/1.1 and HTTP/2 interop', () => {
  let dir: string;
  let inPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-h2-interop-'));
    inPath = join(dir, 'in.bin');
    await writeFile(inPath, body);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('HTTP/1.1 client -> HTTP/2 upstream', async (t) => {
    const upstream = await startH2cServer((stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({
          ':status': 201,
          'x-req-authority': String(headers[':authority']),
          'x-req-length': String(headers['content-length'] ?? ''),
          'x-req-foo': String(headers['x-foo'] ?? ''),
        });
        stream.end(Buffer.concat(chunks));
      });
    });
    const up = createHttp2Upstream({ address: '127.0.0.1', port: upstream.port }, { connectTimeoutMs: 2000 });
    const connections = new Set<DownstreamConnection>();
    const dispatch: Dispatch = up.dispatch;
    const proxy = net.createServer((socket) =>
      serveHttp1Connection(socket, Buffer.alloc(0), {
        listener: 'interop',
        scheme: 'http',
        headersTimeoutMs: 5000,
        idleTimeoutMs: 5000,
        maxHeaderBytes: 65536,
        dispatch: () => dispatch,
        tunnel: (_req, socket) => socket.destroy(),
        connections,
        draining: () => false,
      }),
    );
    await listen(proxy);
    t.after(async () => {
      for (const c of connections) c.destroy();
      proxy.close();
      await up.close();
      await upstream.close();
    });
    const outPath = join(dir, 'out1.bin');
    const r = await run('curl', [
      '-sS',
      '--http1.1',
      '-D',
      '-',
      '-o',
      outPath,
      '-H',
      'x-foo: h1',
      '--data-binary',
      `@${inPath}`,
      `http://127.0.0.1:${portOf(proxy)}/up`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 201/);
    assert.match(r.stdout, new RegExp(`x-req-authority: 127.0.0.1:${portOf(proxy)}`));
    assert.match(r.stdout, new RegExp(`x-req-length: ${body.length}`));
    assert.match(r.stdout, /x-req-foo: h1/);
    assert.equal(sha(await readFile(outPath)), sha(body));
  });

  it('HTTP/2 client -> HTTP/1.1 upstream', async (t) => {
    const upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(202, {
          'x-req-host': String(req.headers.host),
          'x-req-foo': String(req.headers['x-foo']),
        });
        res.end(Buffer.concat(chunks)); // chunked or sized, the framing is HTTP/1's business
      });
    });
    await listen(upstream);
    const pool = new Http1Upstream(
      { address: '127.0.0.1', port: portOf(upstream) },
      { connectTimeoutMs: 2000, maxIdle: 4, idleTimeoutMs: 5000 },
    );
    const proxy = net.createServer((socket) =>
      serveHttp2Connection(socket, Buffer.alloc(0), {
        listener: 'interop',
        dispatch: pool.dispatch,
        scheme: 'http',
      }),
    );
    const sockets = new Set<net.Socket>();
    proxy.on('connection', (s) => sockets.add(s));
    await listen(proxy);
    t.after(async () => {
      for (const s of sockets) s.destroy();
      proxy.close();
      await pool.close();
      upstream.closeAllConnections();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });
    const outPath = join(dir, 'out2.bin');
    const r = await run('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '-D',
      '-',
      '-o',
      outPath,
      '-H',
      'x-foo: h2',
      '--data-binary',
      `@${inPath}`,
      `http://127.0.0.1:${portOf(proxy)}/down`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/2 202/);
    assert.match(r.stdout, new RegExp(`x-req-host: 127.0.0.1:${portOf(proxy)}`));
    assert.match(r.stdout, /x-req-foo: h2/);
    assert.equal(sha(await readFile(outPath)), sha(body));
  });
});
