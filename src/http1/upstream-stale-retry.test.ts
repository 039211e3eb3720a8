// A request sent on a kept-alive socket the upstream had just closed is sent again on a fresh
// connection, and the caller's cancel still reaches it there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Http1Upstream } from './upstream-pool.ts';
import type { ProxyError } from '../errors.ts';
import { testRequest } from '../proxy/testing.ts';
import type { ProxyRequest, ResponseHandler } from '../proxy/types.ts';
import { eventually } from '../../test/proxy/harness.ts';

const request = (path: string): ProxyRequest => testRequest({ authority: 'up', path });

test('a stale keep-alive socket is retried on a new connection, and cancel reaches the retry', async (t) => {
  const conns: { requests: number; closed: boolean }[] = [];
  const server = net.createServer((s) => {
    const state = { requests: 0, closed: false };
    const first = conns.length === 0;
    conns.push(state);
    s.on('error', () => {});
    s.on('close', () => (state.closed = true));
    s.on('data', () => {
      state.requests++;
      // First connection: answer once, then drop the socket when it is reused (a stale keep-alive).
      if (first && state.requests === 1) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      else if (first) s.destroy();
      // Second connection: never answers.
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const pool = new Http1Upstream(
    { address: '127.0.0.1', port: (server.address() as AddressInfo).port },
    { connectTimeoutMs: 1000, maxIdle: 4, idleTimeoutMs: 5000 },
  );
  t.after(() => pool.destroy());

  const done = await new Promise<number>((resolve, reject) => {
    let status = 0;
    pool.dispatch(request('/a'), null, {
      onResponseStart: (s) => (status = s),
      onResponseData: () => true,
      onResponseEnd: () => resolve(status),
      onResponseError: reject,
    });
  });
  assert.equal(done, 200);
  await eventually(() => pool.idleConnections === 1);

  const events: string[] = [];
  const handler: ResponseHandler = {
    onResponseStart: () => events.push('start'),
    onResponseData: () => true,
    onResponseEnd: () => events.push('end'),
    onResponseError: (e: ProxyError) => events.push(e.code),
  };
  const cancel = pool.dispatch(request('/b'), null, handler);
  await eventually(() => conns.length === 2 && conns[1]!.requests === 1);
  assert.equal(conns[0]!.closed, true);
  cancel(new Error('client left'));
  await eventually(() => conns[1]!.closed);
  assert.deepEqual(events, [], 'a cancelled exchange makes no further callbacks');
});
