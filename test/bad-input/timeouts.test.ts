// Slow and abusive clients: slowloris heads and silent connections are cut at headersTimeout,
// and an HTTP/2 rapid-reset flood through the full proxy loses its connection while others are served.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import {
  collect,
  connect,
  parseResponses,
  startCountingUpstream,
  startProxy,
  validGet,
  waitFor,
  type CountingUpstream,
  type RunningProxy,
} from './support.ts';

describe('slow clients (headersTimeout: 1s)', () => {
  let upstream: CountingUpstream;
  let proxy: RunningProxy;
  before(async () => {
    upstream = await startCountingUpstream();
    proxy = await startProxy(upstream.port, { headersTimeout: '1s', idleTimeout: '1s' });
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('a head sent one byte every 300 ms never completes: 408 and close within ~2 s', async () => {
    const head = `GET /ok HTTP/1.1\r\nHost: svc.test\r\nx-slow: ${'s'.repeat(40)}\r\n\r\n`;
    const socket = await connect(proxy.port);
    const got = collect(socket);
    const start = performance.now();
    let sent = 0;
    // Bounded: at most the whole head (which would take ~20 s), stopping as soon as the proxy closes.
    while (sent < head.length && !got.closed() && performance.now() - start < 5000) {
      socket.write(head[sent++]!);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(await waitFor(() => got.closed(), 1000), 'the proxy must close the slow connection');
    const elapsed = performance.now() - start;
    assert.ok(sent < head.length, 'the head must not have completed');
    assert.ok(elapsed < 3000, `closed after ${Math.round(elapsed)} ms; headersTimeout is 1 s`);
    const { responses } = parseResponses(got.data());
    assert.deepEqual(
      responses.map((x) => [x.status, x.headers['x-trellis-error']]),
      [[408, 'TRELLIS_HEADERS_TIMEOUT']],
    );
    assert.equal(upstream.requests(), 0);
    socket.destroy();
    assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
  });

  it('a client that connects and sends nothing is closed after headersTimeout, without a response', async () => {
    const socket = await connect(proxy.port);
    const got = collect(socket);
    const start = performance.now();
    assert.ok(await waitFor(() => got.closed(), 3000), 'the silent connection must be closed');
    assert.ok(performance.now() - start >= 900, 'not before headersTimeout');
    assert.equal(got.data().length, 0);
    socket.destroy();
  });

  it('an idle keep-alive connection is closed after idleTimeout', async () => {
    const socket = await connect(proxy.port);
    const got = collect(socket);
    socket.write('GET /ok HTTP/1.1\r\nHost: svc.test\r\n\r\n');
    assert.ok(await waitFor(() => parseResponses(got.data()).responses.length === 1));
    assert.ok(await waitFor(() => got.closed(), 3000), 'the idle connection must be closed');
    socket.destroy();
  });
});

describe('HTTP/2 rapid reset through the proxy (detect listener)', () => {
  let upstream: CountingUpstream;
  let proxy: RunningProxy;
  before(async () => {
    upstream = await startCountingUpstream();
    proxy = await startProxy(upstream.port, { protocol: 'detect' });
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  function h2Get(client: http2.ClientHttp2Session, path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = client.request({ ':path': path, ':authority': 'svc.test' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
  }

  it('a HEADERS + RST_STREAM flood loses its connection; other clients keep being served', async () => {
    const bystander = http2.connect(`http://127.0.0.1:${proxy.port}`);
    bystander.on('error', () => {});
    assert.equal(await h2Get(bystander, '/before'), 200);

    const attacker = http2.connect(`http://127.0.0.1:${proxy.port}`);
    attacker.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      attacker.once('connect', () => resolve());
      attacker.once('error', reject);
    });
    let sent = 0;
    for (let i = 0; i < 10_000 && !attacker.closed && !attacker.destroyed; i++) {
      try {
        const req = attacker.request({ ':path': `/slow/${i}`, ':authority': 'svc.test' });
        req.on('error', () => {});
        req.close(http2.constants.NGHTTP2_CANCEL);
        sent++;
      } catch {
        break;
      }
      if (i % 50 === 49) await tick();
    }
    assert.ok(
      await waitFor(() => attacker.destroyed || attacker.closed, 3000),
      `flood of ${sent} resets not cut off`,
    );
    attacker.destroy();

    // Whatever the flood started upstream is cancelled, not left running.
    assert.ok(
      await waitFor(() => upstream.inFlight() === 0, 3000),
      `upstream still holds ${upstream.inFlight()}`,
    );
    assert.equal(await h2Get(bystander, '/after'), 200);
    bystander.close();
    assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
  });
});
