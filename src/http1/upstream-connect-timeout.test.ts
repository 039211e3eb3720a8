// An HTTP/1 upstream that accepts the TCP connection and never completes the TLS handshake: the
// pool's connect timer ends the attempt with 503 TRELLIS_UPSTREAM_CONNECT_TIMEOUT, closes the
// socket and forgets the connection. (Plain TCP cannot be made to hang on loopback without root:
// the timer and its error are the same for both.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { makeCert } from '../../test/support/tls.ts';
import { Http1Upstream } from './upstream-pool.ts';
import type { ProxyError } from '../errors.ts';
import type { ProxyRequest } from '../proxy/types.ts';

const request: ProxyRequest = {
  method: 'GET',
  scheme: 'http',
  authority: 'up',
  path: '/',
  headers: [],
  protocol: 'http1',
  grpc: false,
  bodyLength: 0,
  expectContinue: false,
  source: { address: '127.0.0.1', port: 1 },
  listener: 'test',
  startTime: performance.now(),
};

test(
  'a TLS upstream that never handshakes: TRELLIS_UPSTREAM_CONNECT_TIMEOUT, socket closed',
  { timeout: 10_000 },
  async (t) => {
    const cert = makeCert();
    const accepted: net.Socket[] = [];
    const closed: boolean[] = [];
    const silent = net.createServer((s) => {
      const i = accepted.push(s) - 1;
      closed[i] = false;
      s.on('error', () => {});
      s.on('close', () => (closed[i] = true));
      s.resume(); // read (and drop) the ClientHello, so the proxy's FIN is seen
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    let open = 0;
    const pool = new Http1Upstream(
      { address: '127.0.0.1', port: (silent.address() as AddressInfo).port },
      {
        connectTimeoutMs: 150,
        maxIdle: 4,
        idleTimeoutMs: 5000,
        tls: { ca: cert.cert, servername: 'localhost' },
        onConnectionCount: (d) => (open += d),
      },
    );
    t.after(async () => {
      pool.destroy();
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
      cert.cleanup();
    });

    const started = performance.now();
    const err = await new Promise<ProxyError>((resolve, reject) => {
      pool.dispatch(request, null, {
        onResponseStart: () => reject(new Error('a response from a silent upstream')),
        onResponseData: () => true,
        onResponseEnd: () => reject(new Error('a response from a silent upstream')),
        onResponseError: resolve,
      });
    });
    const waited = performance.now() - started;
    assert.equal(err.code, 'TRELLIS_UPSTREAM_CONNECT_TIMEOUT');
    assert.equal(err.status, 503);
    assert.match(err.message, /127\.0\.0\.1:\d+/);
    assert.ok(waited >= 140, `gave up after ${waited.toFixed(0)} ms, before the 150 ms timeout`);
    assert.equal(accepted.length, 1, 'one connection attempt, not a retry loop');
    await waitUntil(() => closed[0] === true);
    assert.equal(pool.openConnections, 0);
    assert.equal(open, 0, 'the connection gauge is back to zero');
  },
);

function waitUntil(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error('condition not met in time'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}
