// gRPC through the proxy with deadlines and retries: grpc-timeout parsing, a call whose
// grpc-timeout is shorter than the route's timeout (DEADLINE_EXCEEDED, the upstream stream
// cancelled), the budget left passed upstream on every try, and UNAVAILABLE then OK with
// @grpc/grpc-js on both ends.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { test, type TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Echo, echoService, type EchoReply, type EchoRequest } from '../../test/support/grpc-echo.ts';
import { startH2cServer } from '../http2/test-support.ts';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.ts';
import { eventually, resilienceConfig, startTestProxy, type TestProxy } from './test-support.ts';

const { NGHTTP2_CANCEL } = http2.constants;
const UNARY = '/trellis.test.Echo/Unary';

test('grpc-timeout values: every unit, malformed ones refused, formatting rounds down', () => {
  assert.equal(parseGrpcTimeout('100m'), 100);
  assert.equal(parseGrpcTimeout('2S'), 2000);
  assert.equal(parseGrpcTimeout('1M'), 60_000);
  assert.equal(parseGrpcTimeout('1H'), 3_600_000);
  assert.equal(parseGrpcTimeout('1500u'), 1.5);
  assert.equal(parseGrpcTimeout('2000000n'), 2);
  for (const bad of ['', 'm', '100', '100x', '123456789m', '-1m', '1.5S']) {
    assert.equal(parseGrpcTimeout(bad), undefined, bad);
  }
  assert.equal(formatGrpcTimeout(199.7), '199m');
  assert.equal(formatGrpcTimeout(0.25), '250u');
  assert.equal(formatGrpcTimeout(-5), '1u');
  assert.equal(formatGrpcTimeout(200_000_000), '200000S');
});

interface RawAnswer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
}

/** One gRPC-shaped request (an empty message) over h2c, without any client-side deadline. */
async function rawGrpc(port: number, grpcTimeout?: string): Promise<RawAnswer> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    return await new Promise<RawAnswer>((resolve, reject) => {
      const req = session.request({
        ':method': 'POST',
        ':path': UNARY,
        'content-type': 'application/grpc',
        te: 'trailers',
        ...(grpcTimeout ? { 'grpc-timeout': grpcTimeout } : {}),
      });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => (headers = h));
      req.on('trailers', (h) => (trailers = h));
      req.on('error', reject);
      req.resume();
      req.on('end', () => resolve({ headers, trailers }));
      req.setTimeout(15_000, () => req.close());
      req.end(Buffer.alloc(5));
    });
  } finally {
    session.close();
  }
}

async function h2Upstream(
  t: TestContext,
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, n: number) => void,
): Promise<{ port: number; seen: string[]; resets: number[] }> {
  const seen: string[] = [];
  const resets: number[] = [];
  let n = 0;
  const server = await startH2cServer((stream, headers) => {
    seen.push(String(headers['grpc-timeout'] ?? ''));
    stream.on('close', () => resets.push(stream.rstCode ?? 0));
    onStream(stream, headers, ++n);
  });
  t.after(() => server.close());
  return { port: server.port, seen, resets };
}

async function grpcProxy(t: TestContext, route: Parameters<typeof resilienceConfig>[0], port: number) {
  const proxy: TestProxy = await startTestProxy(
    resilienceConfig(route, [{ port }], { protocol: 'grpc' }, 'http2'),
  );
  t.after(() => proxy.close());
  return proxy;
}

for (const retries of [false, true]) {
  test(`grpc-timeout shorter than the route timeout: DEADLINE_EXCEEDED, upstream cancelled (retries: ${retries})`, async (t) => {
    const up = await h2Upstream(t, (stream) => stream.resume()); // never answers
    const route = { timeout: '30s', ...(retries ? { retries: { retryOn: ['unavailable' as const] } } : {}) };
    const proxy = await grpcProxy(t, route, up.port);
    const r = await rawGrpc(proxy.port, '200m');
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.headers['grpc-status'], '4', 'DEADLINE_EXCEEDED');
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_TIMEOUT');
    assert.equal(up.seen.length, 1);
    const passed = parseGrpcTimeout(up.seen[0]!);
    assert.ok(passed !== undefined && passed <= 200, `upstream was told ${up.seen[0]}`);
    await eventually(() => up.resets.length === 1);
    assert.equal(up.resets[0], NGHTTP2_CANCEL, 'the upstream stream was reset with CANCEL');
  });
}

test('every try carries the budget still left in grpc-timeout', async (t) => {
  const up = await h2Upstream(t, (stream, _h, n) => {
    stream.resume();
    const status = n === 1 ? '14' : '0';
    setTimeout(() => {
      if (!stream.destroyed)
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': status },
          { endStream: true },
        );
    }, 60);
  });
  const proxy = await grpcProxy(
    t,
    { timeout: '10s', retries: { retryOn: ['unavailable'], backoff: { base: 1, max: 2 } } },
    up.port,
  );
  const r = await rawGrpc(proxy.port, '5S');
  assert.equal(r.headers['grpc-status'], '0');
  assert.equal(r.headers['x-trellis-attempts'], '2');
  assert.equal(up.seen.length, 2);
  const [first, second] = up.seen.map((v) => parseGrpcTimeout(v)!);
  assert.ok(first! <= 5000 && second! < first!, `tries were told ${up.seen.join(', ')}`);
  assert.ok(second! <= first! - 50, 'the second try got what the first left');
});

test('gRPC UNAVAILABLE then OK with @grpc/grpc-js: the retry answers', async (t) => {
  let calls = 0;
  const impl = echoService();
  const server = new grpc.Server();
  server.addService(Echo.service, {
    ...impl,
    Unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) {
      if (++calls === 1) cb({ code: grpc.status.UNAVAILABLE, details: 'warming up' });
      else cb(null, { text: `echo:${call.request.text}`, index: calls });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  t.after(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  const proxy = await grpcProxy(t, { retries: { backoff: { base: 1, max: 5 } } }, port);
  const client = new grpc.Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const m = Echo.service['Unary'] as grpc.MethodDefinition<EchoRequest, EchoReply>;
  const { reply, headers } = await new Promise<{ reply?: EchoReply; headers?: grpc.Metadata }>(
    (resolve, reject) => {
      let headers: grpc.Metadata | undefined;
      const call = client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        { text: 'hi', count: 0 },
        new grpc.Metadata(),
        { deadline: Date.now() + 10_000 },
        (err, value) => (err ? reject(err) : resolve({ ...(value ? { reply: value } : {}), headers })),
      );
      call.on('metadata', (md) => (headers = md));
    },
  );
  assert.equal(reply?.text, 'echo:hi');
  assert.equal(calls, 2);
  assert.deepEqual(headers?.get('x-trellis-attempts'), ['2']);
  assert.equal(proxy.retries(), 1);
});
