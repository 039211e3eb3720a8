// Request trailers reach an HTTP/1 upstream as name/value pairs, without hop-by-hop fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Http1Upstream } from './upstream-pool.ts';
import { testRequest } from '../proxy/testing.ts';
import type { BodySink, RequestBody, ResponseHandler } from '../proxy/types.ts';

test('chunked request trailers are forwarded pairwise, hop-by-hop ones dropped', async (t) => {
  let seen: NodeJS.Dict<string> | undefined;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen = req.trailers;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const pool = new Http1Upstream(
    { address: '127.0.0.1', port: (server.address() as AddressInfo).port },
    { connectTimeoutMs: 1000, maxIdle: 4, idleTimeoutMs: 1000 },
  );
  t.after(() => pool.destroy());
  const req = testRequest({
    method: 'POST',
    authority: 'up',
    headers: ['trailer', 'x-checksum'],
    bodyLength: -1,
  });
  const body: RequestBody = {
    pipe(sink: BodySink) {
      sink.data(Buffer.from('hello'));
      sink.end(['keep-alive', 'timeout=5', 'x-checksum', 'abc']);
    },
    resume() {},
  };
  const status = await new Promise<number>((resolve, reject) => {
    let code = 0;
    const handler: ResponseHandler = {
      onResponseStart: (s) => (code = s),
      onResponseData: () => true,
      onResponseEnd: () => resolve(code),
      onResponseError: reject,
    };
    pool.dispatch(req, body, handler);
  });
  assert.equal(status, 200);
  assert.deepEqual({ ...seen }, { 'x-checksum': 'abc' });
});
