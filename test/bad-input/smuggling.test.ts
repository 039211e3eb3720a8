// Request smuggling: ambiguous or malformed framing is refused before anything is forwarded (or,
// for a broken chunked body, the upstream exchange is cancelled), and no payload ever turns into
// a second request at the upstream. Requests are counted where they land: at the upstream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertRejected,
  collect,
  connect,
  parseResponses,
  rawExchange,
  startCountingUpstream,
  startProxy,
  validGet,
  waitFor,
  type CountingUpstream,
  type RunningProxy,
} from './support.ts';

const HOST = 'Host: svc.test\r\n';
const POST = `POST /ok HTTP/1.1\r\n${HOST}`;

describe('request smuggling', () => {
  let upstream: CountingUpstream;
  let proxy: RunningProxy;
  before(async () => {
    upstream = await startCountingUpstream();
    proxy = await startProxy(upstream.port);
  });
  after(async () => {
    await proxy.close();
    await upstream.close();
  });

  async function refusedUnforwarded(
    bytes: string,
    status = 400,
    code = 'TRELLIS_BAD_REQUEST',
  ): Promise<void> {
    const before = upstream.requests();
    const r = await rawExchange(proxy.port, bytes);
    assertRejected(r, status, code);
    assert.equal(upstream.requests(), before, 'nothing may reach the upstream');
    assert.equal(upstream.malformed(), 0);
    assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
  }

  describe('ambiguous framing is refused before forwarding', () => {
    it('Content-Length and Transfer-Encoding: chunked together', async () => {
      await refusedUnforwarded(`${POST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
      await refusedUnforwarded(`${POST}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`);
    });
    it('duplicate conflicting Content-Length', async () => {
      await refusedUnforwarded(`${POST}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`);
    });
    it('duplicate identical Content-Length (refused too: strictness costs nothing here)', async () => {
      await refusedUnforwarded(`${POST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`);
    });
    it('a Content-Length list, sign or overflow', async () => {
      await refusedUnforwarded(`${POST}Content-Length: 5, 6\r\n\r\nhello!`);
      await refusedUnforwarded(`${POST}Content-Length: +5\r\n\r\nhello`);
      await refusedUnforwarded(`${POST}Content-Length: -1\r\n\r\n`);
      await refusedUnforwarded(`${POST}Content-Length: 99999999999999999999999\r\n\r\nhello`);
    });
    it('Transfer-Encoding: chunked, identity', async () => {
      await refusedUnforwarded(`${POST}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`);
    });
    it('Transfer-Encoding: gzip (chunked not last)', async () => {
      await refusedUnforwarded(`${POST}Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n`);
      await refusedUnforwarded(`${POST}Transfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello`);
    });
    it('Transfer-Encoding: xchunked', async () => {
      await refusedUnforwarded(`${POST}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`);
    });
    it('Transfer-Encoding: gzip, chunked → 501 (the proxy cannot forward the gzip coding)', async () => {
      await refusedUnforwarded(
        `${POST}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        501,
        'TRELLIS_UNSUPPORTED_TRANSFER_CODING',
      );
    });
    it('two Transfer-Encoding headers, one obfuscated (TE.TE)', async () => {
      await refusedUnforwarded(`${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n`);
      await refusedUnforwarded(
        `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      );
    });
    it('whitespace before the colon (Content-Length : 5, Transfer-Encoding : chunked)', async () => {
      await refusedUnforwarded(`${POST}Content-Length : 5\r\n\r\nhello`);
      await refusedUnforwarded(`${POST}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`);
    });
    it('TE.CL classic in one write: no second request at the upstream', async () => {
      const smuggled = `GET /smuggled HTTP/1.1\r\n${HOST}\r\n`;
      await refusedUnforwarded(
        `${POST}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
      );
      assert.ok(!upstream.paths.includes('/smuggled'));
    });
    it('CL.TE classic in one write: no second request at the upstream', async () => {
      await refusedUnforwarded(
        `${POST}Content-Length: 39\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nX-Ignore: x`,
      );
      assert.ok(!upstream.paths.includes('/smuggled'));
    });
    it('a smuggled request inside a legitimate body is forwarded as body bytes only', async () => {
      const inner = `GET /smuggled HTTP/1.1\r\n${HOST}\r\n`;
      const before = upstream.requests();
      const r = await rawExchange(proxy.port, `${POST}Content-Length: ${inner.length}\r\n\r\n${inner}`);
      const { responses } = parseResponses(r.data);
      assert.deepEqual(
        responses.map((x) => [x.status, x.headers['x-body-length']]),
        [[200, String(inner.length)]],
      );
      assert.equal(upstream.requests(), before + 1);
      assert.ok(!upstream.paths.includes('/smuggled'));
    });
  });

  describe('broken chunked bodies', () => {
    const bodies: Array<[string, string]> = [
      ['0x-prefixed chunk size', '0x5\r\nhello\r\n0\r\n\r\n'],
      ['negative chunk size', '-5\r\nhello\r\n0\r\n\r\n'],
      ['overflowing hex chunk size', 'fffffffffffffffffffff1\r\nhello\r\n0\r\n\r\n'],
      ['space after the chunk size', '5 \r\nhello\r\n0\r\n\r\n'],
      ['chunk data longer than its size', '3\r\nhello\r\n0\r\n\r\n'],
      ['missing CRLF after the chunk data', '5\r\nhello0\r\n\r\n'],
      ['Content-Length in the trailers', '5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n'],
    ];
    for (const [name, body] of bodies) {
      it(`${name} → 400; no request completes at the upstream`, async () => {
        const completed = upstream.completed();
        const r = await rawExchange(proxy.port, `${POST}Transfer-Encoding: chunked\r\n\r\n${body}`);
        assertRejected(r, 400, 'TRELLIS_BAD_REQUEST');
        assert.ok(await waitFor(() => upstream.inFlight() === 0), 'the upstream exchange must be cancelled');
        assert.equal(
          upstream.completed(),
          completed,
          'a broken body must never reach the upstream as complete',
        );
        assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
      });
    }

    it('a bad chunk after the head was forwarded: the upstream exchange is cancelled at once', async () => {
      const requests = upstream.requests();
      const completed = upstream.completed();
      const socket = await connect(proxy.port);
      const got = collect(socket);
      socket.write(`${POST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
      assert.ok(await waitFor(() => upstream.requests() === requests + 1 && upstream.inFlight() === 1));
      socket.write('zz\r\n'); // not a chunk size; the client keeps its side open
      assert.ok(await waitFor(() => got.data().includes('\r\n\r\n')));
      assert.equal(parseResponses(got.data()).responses[0]?.status, 400);
      assert.ok(
        await waitFor(() => upstream.inFlight() === 0),
        'cancelled while the client is still connected',
      );
      assert.equal(upstream.completed(), completed);
      assert.ok(await waitFor(() => got.closed()), 'the proxy closes after refusing');
      socket.destroy();
    });

    it('the client closes inside the body: the upstream exchange is cancelled, never completed', async () => {
      // A FIN ends the client connection (as in Envoy and nginx): the truncated body is never completed.
      const requests = upstream.requests();
      const completed = upstream.completed();
      const socket = await connect(proxy.port);
      const got = collect(socket);
      socket.write(`${POST}Content-Length: 10\r\n\r\nabc`);
      assert.ok(await waitFor(() => upstream.requests() === requests + 1));
      socket.end();
      assert.ok(await waitFor(() => got.closed()));
      assert.equal(parseResponses(got.data()).responses.length, 0);
      assert.ok(await waitFor(() => upstream.inFlight() === 0), 'the upstream must not be left waiting');
      assert.equal(upstream.completed(), completed);
      socket.destroy();
    });

    it('endless request trailers are bounded like headers → 431, the upstream exchange cancelled', async () => {
      const completed = upstream.completed();
      const trailers = Array.from({ length: 2000 }, (_, i) => `x-t${i}: ${'v'.repeat(100)}\r\n`).join('');
      const r = await rawExchange(
        proxy.port,
        `${POST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${trailers}\r\n`,
      );
      assertRejected(r, 431, 'TRELLIS_HEADERS_TOO_LARGE');
      assert.ok(await waitFor(() => upstream.inFlight() === 0));
      assert.equal(upstream.completed(), completed);
      assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
    });

    it('a very long chunk extension (100 KB) is consumed without buffering; the body arrives intact', async () => {
      // llhttp streams extensions past us (undici's build has no extension callbacks), so they cost
      // parse time like body bytes but no memory; the proxy re-frames the body without them.
      const r = await rawExchange(
        proxy.port,
        `${POST}Transfer-Encoding: chunked\r\n\r\n5;${'e'.repeat(100_000)}=x\r\nhello\r\n0\r\n\r\n`,
      );
      const { responses } = parseResponses(r.data);
      assert.deepEqual(
        responses.map((x) => [x.status, x.headers['x-body-length']]),
        [[200, '5']],
      );
      assert.equal(upstream.malformed(), 0);
      assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
    });
  });
});
