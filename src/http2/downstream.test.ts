// The downstream adapter on its own, with hand-written Dispatch functions: proxy errors as HTTP
// and as gRPC, errors after the response started, 1xx, Expect, request parsing.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NoHealthyEndpointError, RouteNotFoundError, UpstreamTimeoutError } from '../errors.ts';
import type { Dispatch, ProxyRequest, ResponseController } from '../proxy/types.ts';
import { serveHttp2Connection } from './downstream.ts';
import { listen, portOf, run } from './test-support.ts';

const noController: ResponseController = { resume() {}, abort() {} };
let seen: ProxyRequest | null = null;

const dispatch: Dispatch = (req, body, handler) => {
  seen = req;
  switch (req.path) {
    case '/missing':
      handler.onResponseError(RouteNotFoundError(req.authority, req.path));
      break;
    case '/down':
      handler.onResponseError(NoHealthyEndpointError('backend'));
      break;
    case '/slow':
      handler.onResponseError(UpstreamTimeoutError(1000));
      break;
    case '/throws':
      throw new Error('bug');
    case '/break-mid-body':
      handler.onResponseStart(200, ['content-type', 'text/plain'], noController);
      handler.onResponseData(Buffer.from('partial'));
      setTimeout(() => handler.onResponseError(UpstreamTimeoutError(10)), 20);
      break;
    case '/bad-status':
      handler.onResponseStart(1000, [], noController);
      handler.onResponseEnd(null);
      break;
    case '/hints':
      handler.onInformational?.(103, ['link', '</style.css>; rel=preload']);
      handler.onResponseStart(200, ['x-after-hints', '1'], noController);
      handler.onResponseEnd(null);
      break;
    default: {
      // Echo the request body back once it is complete.
      const chunks: Buffer[] = [];
      const respond = (): void => {
        handler.onResponseStart(200, ['x-body-length', String(req.bodyLength)], noController);
        handler.onResponseData(Buffer.concat(chunks));
        handler.onResponseEnd(['x-done', 'yes']);
      };
      if (body === null) respond();
      else
        body.pipe({
          data: (c) => (chunks.push(c), true),
          end: respond,
          error: () => {},
        });
    }
  }
  return () => {};
};

interface Reply {
  headers: http2.IncomingHttpHeaders;
  informational: http2.IncomingHttpHeaders[];
  body: string;
  trailers: http2.IncomingHttpHeaders;
}

function request(
  client: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = client.request(headers, { endStream: body === undefined });
    if (body !== undefined) req.end(body);
    const r: Reply = { headers: {}, informational: [], body: '', trailers: {} };
    req.on('headers', (h) => r.informational.push(h));
    req.on('response', (h) => (r.headers = h));
    req.on('trailers', (h) => (r.trailers = h));
    req.setEncoding('utf8');
    req.on('data', (c: string) => (r.body += c));
    req.on('end', () => resolve(r));
    req.on('error', reject);
  });
}

describe('serveHttp2Connection', () => {
  let server: net.Server;
  let client: http2.ClientHttp2Session;
  let port: number;
  before(async () => {
    server = net.createServer((socket) => {
      // Protocol detection reads the preface first; it is handed over as `head`.
      socket.once('data', (head: Buffer) => {
        socket.pause();
        serveHttp2Connection(socket, head, { listener: 'edge', dispatch, scheme: 'http' });
      });
    });
    await listen(server);
    port = portOf(server);
    client = http2.connect(`http://127.0.0.1:${port}`);
  });
  after(async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('builds the ProxyRequest from pseudo-headers and drops hop-by-hop headers', async () => {
    const r = await request(
      client,
      {
        ':method': 'POST',
        ':path': '/echo?a=b',
        ':authority': 'svc.example:8080',
        'content-type': 'application/json',
        'content-length': '7',
        te: 'trailers',
        'x-custom': 'v',
      },
      '{"a":1}',
    );
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.body, '{"a":1}');
    assert.equal(r.headers['x-body-length'], '7');
    assert.equal(r.trailers['x-done'], 'yes');
    assert.ok(seen);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.authority, 'svc.example:8080');
    assert.equal(seen.path, '/echo?a=b');
    assert.equal(seen.protocol, 'http2');
    assert.equal(seen.listener, 'edge');
    assert.equal(seen.grpc, false);
    assert.equal(seen.source.address, '127.0.0.1');
    assert.ok(seen.headers.every((h, i) => i % 2 === 1 || !h.startsWith(':')));
    assert.deepEqual(seen.headers, ['content-type', 'application/json', 'te', 'trailers', 'x-custom', 'v']);
    const get = await request(client, { ':path': '/get' });
    assert.equal(get.headers['x-body-length'], '0');
  });

  it('answers proxy errors over plain HTTP with the status, a text body and x-trellis-error', async () => {
    const r = await request(client, { ':path': '/missing' });
    assert.equal(r.headers[':status'], 404);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_ROUTE_NOT_FOUND');
    assert.match(r.body, /no route for/);
    const t = await request(client, { ':path': '/throws' });
    assert.equal(t.headers[':status'], 500);
    assert.equal(t.headers['x-trellis-error'], 'TRELLIS_INTERNAL');
    const h = await request(client, { ':path': '/down', ':method': 'HEAD' });
    assert.equal(h.headers[':status'], 503);
    assert.equal(h.body, '');
  });

  it('answers proxy errors to gRPC as trailers-only responses with a mapped grpc-status', async () => {
    const cases: [string, string, string][] = [
      ['/missing', '12', 'TRELLIS_ROUTE_NOT_FOUND'],
      ['/down', '14', 'TRELLIS_NO_HEALTHY_ENDPOINT'],
      ['/slow', '4', 'TRELLIS_UPSTREAM_TIMEOUT'],
    ];
    for (const [path, status, code] of cases) {
      const endStream = await new Promise<{ h: http2.IncomingHttpHeaders; end: boolean }>(
        (resolve, reject) => {
          const req = client.request({
            ':method': 'POST',
            ':path': path,
            'content-type': 'application/grpc',
          });
          req.end();
          req.on('response', (h, flags) =>
            resolve({ h, end: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 }),
          );
          req.on('error', reject);
          req.resume();
        },
      );
      assert.equal(endStream.end, true, 'trailers-only: the head carries END_STREAM');
      assert.equal(endStream.h[':status'], 200);
      assert.equal(endStream.h['content-type'], 'application/grpc');
      assert.equal(endStream.h['grpc-status'], status);
      assert.equal(endStream.h['x-trellis-error'], code);
      assert.ok(String(endStream.h['grpc-message']).length > 0);
    }
  });

  it('resets the stream with INTERNAL_ERROR when the response breaks after it started', async () => {
    await assert.rejects(request(client, { ':path': '/break-mid-body' }), {
      code: 'ERR_HTTP2_STREAM_ERROR',
      message: /NGHTTP2_INTERNAL_ERROR/,
    });
    assert.equal((await request(client, { ':path': '/ok' })).headers[':status'], 200);
  });

  it('answers 502 when the upstream head cannot be expressed in HTTP/2', async () => {
    // (Header values are not re-validated here: both upstream transports reject invalid ones.)
    for (const path of ['/bad-status']) {
      const r = await request(client, { ':path': path });
      assert.equal(r.headers[':status'], 502, path);
      assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_PROTOCOL_ERROR');
    }
  });

  it('forwards 103 Early Hints', async () => {
    const r = await request(client, { ':path': '/hints' });
    assert.equal(r.informational[0]?.[':status'], 103);
    assert.equal(r.informational[0]?.['link'], '</style.css>; rel=preload');
    assert.equal(r.headers['x-after-hints'], '1');
  });

  it('answers Expect: 100-continue itself (curl)', async () => {
    const r = await run('curl', [
      '-sS',
      '--http2-prior-knowledge',
      '-H',
      'Expect: 100-continue',
      '--data-binary',
      'expect-body',
      `http://127.0.0.1:${port}/echo`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'expect-body');
    assert.ok(seen);
    assert.equal(seen.headers.includes('expect'), false);
  });
});
