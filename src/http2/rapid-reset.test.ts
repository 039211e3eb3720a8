// CVE-2023-44487: a client that floods HEADERS + RST_STREAM pairs loses its connection; others
// keep being served, and the upstream exchanges it opened are cancelled.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { setImmediate as tick } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startH2cServer, startProxy, type TestProxy } from './test-support.ts';

const { NGHTTP2_CANCEL, NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** Opens and resets up to `max` streams; reports how many went out and how the session ended. */
async function flood(
  port: number,
  max: number,
): Promise<{ sent: number; goawayCode: number | null; closed: boolean }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  let goawayCode: number | null = null;
  client.on('error', () => {});
  client.on('goaway', (code: number) => (goawayCode = code));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  let sent = 0;
  for (let i = 0; i < max && !client.closed && !client.destroyed && goawayCode === null; i++) {
    try {
      const req = client.request({ ':path': `/slow/${i}` });
      req.on('error', () => {});
      req.close(NGHTTP2_CANCEL);
      sent++;
    } catch {
      break;
    }
    if (i % 20 === 19) await tick();
  }
  // Bounded wait for the connection to be torn down.
  for (let i = 0; i < 200 && !client.destroyed; i++) await new Promise((r) => setTimeout(r, 10));
  const closed = client.destroyed;
  client.destroy();
  return { sent, goawayCode, closed };
}

async function get(port: number, path: string): Promise<number> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  try {
    const req = client.request({ ':path': path });
    req.end();
    return await new Promise<number>((resolve, reject) => {
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
    });
  } finally {
    client.close();
  }
}

describe('rapid reset', () => {
  let upstream: Awaited<ReturnType<typeof startH2cServer>>;
  let proxy: TestProxy;
  let openUpstreamStreams = 0;
  const held = new Set<http2.ServerHttp2Stream>();
  before(async () => {
    upstream = await startH2cServer((stream, headers) => {
      if (String(headers[':path']).startsWith('/slow/')) {
        // Never answers: the exchange stays open until the proxy cancels it.
        openUpstreamStreams++;
        held.add(stream);
        stream.once('close', () => {
          openUpstreamStreams--;
          held.delete(stream);
        });
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    proxy = await startProxy(upstream.port);
  });
  after(async () => {
    for (const s of held) s.destroy();
    await proxy.close();
    await upstream.close();
  });

  it('a handful of cancels is fine', async () => {
    const client = http2.connect(`http://127.0.0.1:${proxy.port}`);
    client.on('error', () => {});
    try {
      for (let i = 0; i < 20; i++) {
        const req = client.request({ ':path': `/slow/ok-${i}` });
        req.on('error', () => {});
        req.close(NGHTTP2_CANCEL);
      }
      const req = client.request({ ':path': '/fast' });
      req.end();
      const status = await new Promise<number>((resolve, reject) => {
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
      });
      assert.equal(status, 200);
      assert.equal(client.destroyed, false);
    } finally {
      client.close();
    }
  });

  it('a flood closes the connection with GOAWAY and the proxy keeps serving', async () => {
    const r = await flood(proxy.port, 5000);
    assert.equal(r.closed, true);
    assert.equal(r.goawayCode, NGHTTP2_ENHANCE_YOUR_CALM);
    assert.ok(r.sent < 5000, `sent ${r.sent}`);
    assert.equal(await get(proxy.port, '/fast'), 200);
    // Every upstream exchange the flood opened was cancelled (bounded wait).
    for (let i = 0; i < 300 && openUpstreamStreams > 0; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(openUpstreamStreams, 0);
  });

  it("without our guard, nghttp2's own limit (about 1000 resets) still closes the connection", async (t) => {
    const loose = await startProxy(upstream.port, { serve: { resetBurst: 1e9 } });
    t.after(() => loose.close());
    const r = await flood(loose.port, 5000);
    assert.equal(r.closed, true);
    assert.notEqual(r.goawayCode, NGHTTP2_ENHANCE_YOUR_CALM);
    assert.ok(r.sent > 500 && r.sent < 5000, `sent ${r.sent}`);
    assert.equal(await get(loose.port, '/fast'), 200);
  });
});
