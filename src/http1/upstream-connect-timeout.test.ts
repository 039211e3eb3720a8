// An HTTP/1 upstream that accepts the TCP connection and never completes the TLS handshake: the
// pool's connect timer ends the attempt with 503 TRELLIS_UPSTREAM_CONNECT_TIMEOUT, closes the
// socket and forgets the connection. (A plain TCP connect never hangs on loopback, where every SYN
// is answered; the timer and its error are the same for both.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { eventually } from '../../test/proxy/harness.ts';
import { makeCert } from '../../test/support/tls.ts';
import { Http1Upstream } from './upstream-pool.ts';
import type { ProxyError } from '../errors.ts';
import { testRequest } from '../proxy/testing.ts';

const request = testRequest({ authority: 'up' });

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
    await eventually(() => closed[0] === true, 2000, 10);
    assert.equal(pool.openConnections, 0);
    assert.equal(open, 0, 'the connection gauge is back to zero');
  },
);
