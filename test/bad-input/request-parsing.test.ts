// Requests the proxy must refuse itself (431 / 400 / 505, connection closed, nothing forwarded),
// and pipelining edges; after each case a valid request on a fresh connection still gets 200.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  assertRejected,
  parseResponses,
  rawExchange,
  startCountingUpstream,
  startProxy,
  validGet,
  type CountingUpstream,
  type RunningProxy,
} from './support.ts';

const HOST = 'Host: svc.test\r\n';

describe('requests the proxy refuses', () => {
  let upstream: CountingUpstream;
  let small: RunningProxy; // maxHeaderBytes: 2048
  let defaults: RunningProxy; // maxHeaderBytes: 64 KiB (the default)
  before(async () => {
    upstream = await startCountingUpstream();
    small = await startProxy(upstream.port, { maxHeaderBytes: 2048 });
    defaults = await startProxy(upstream.port);
  });
  after(async () => {
    await small.close();
    await defaults.close();
    await upstream.close();
  });

  /** Sends `bytes`, asserts the exact refusal, that nothing reached the upstream, and that a valid request still works. */
  async function refused(proxy: RunningProxy, bytes: string, status: number, code: string): Promise<void> {
    const before = upstream.requests();
    const r = await rawExchange(proxy.port, bytes);
    assertRejected(r, status, code);
    assert.equal(upstream.requests(), before, 'the refused request must not reach the upstream');
    assert.deepEqual(await validGet(proxy.port), { status: 200, body: 'ok' });
  }

  describe('oversized heads → 431', () => {
    it('a header over a configured 2 KiB limit', async () => {
      await refused(
        small,
        `GET /ok HTTP/1.1\r\n${HOST}x-big: ${'a'.repeat(4000)}\r\n\r\n`,
        431,
        'TRELLIS_HEADERS_TOO_LARGE',
      );
    });
    it('many small headers adding up over the limit', async () => {
      const many = Array.from({ length: 200 }, (_, i) => `x-h${i}: ${'v'.repeat(10)}\r\n`).join('');
      await refused(small, `GET /ok HTTP/1.1\r\n${HOST}${many}\r\n`, 431, 'TRELLIS_HEADERS_TOO_LARGE');
    });
    it('an oversized request line (long URL)', async () => {
      await refused(
        small,
        `GET /${'a'.repeat(4000)} HTTP/1.1\r\n${HOST}\r\n`,
        431,
        'TRELLIS_HEADERS_TOO_LARGE',
      );
    });
    it('a head over the default 64 KiB limit', async () => {
      await refused(
        defaults,
        `GET /ok HTTP/1.1\r\n${HOST}x-big: ${'a'.repeat(70 * 1024)}\r\n\r\n`,
        431,
        'TRELLIS_HEADERS_TOO_LARGE',
      );
    });
    it('a URL over the default 64 KiB limit', async () => {
      await refused(
        defaults,
        `GET /${'u'.repeat(70 * 1024)} HTTP/1.1\r\n${HOST}\r\n`,
        431,
        'TRELLIS_HEADERS_TOO_LARGE',
      );
    });
    it('a head just under the limit is served', async () => {
      const r = await rawExchange(
        small.port,
        `GET /ok HTTP/1.1\r\n${HOST}x-fill: ${'a'.repeat(1800)}\r\n\r\n`,
      );
      assert.equal(parseResponses(r.data).responses[0]?.status, 200);
    });
  });

  describe('invalid bytes and syntax → 400, connection closed', () => {
    const cases: Array<[string, string]> = [
      ['NUL in a header value', `x-a: a\0b\r\n`],
      ['bare CR in a header value', `x-a: a\rb\r\n`],
      ['control character (0x01) in a header value', `x-a: a\x01b\r\n`],
      ['invalid token char in a header name', `x(a: b\r\n`],
      ['space inside a header name', `x a: b\r\n`],
      ['empty header name', `: b\r\n`],
      ['obs-fold line folding', `x-a: a\r\n  folded\r\n`],
      ['whitespace before the colon', `x-a : b\r\n`],
      ['header line without a colon', `just-a-name\r\n`],
    ];
    for (const [name, line] of cases) {
      it(name, async () => {
        await refused(small, `GET /ok HTTP/1.1\r\n${HOST}${line}\r\n`, 400, 'TRELLIS_BAD_REQUEST');
      });
    }
    it('bare LF line endings', async () => {
      await refused(small, `GET /ok HTTP/1.1\nHost: svc.test\n\n`, 400, 'TRELLIS_BAD_REQUEST');
    });
    it('a space inside the request target', async () => {
      await refused(small, `GET /o k HTTP/1.1\r\n${HOST}\r\n`, 400, 'TRELLIS_BAD_REQUEST');
    });
    it('an invalid method', async () => {
      await refused(small, `G@T /ok HTTP/1.1\r\n${HOST}\r\n`, 400, 'TRELLIS_BAD_REQUEST');
    });
    it('non-HTTP bytes', async () => {
      await refused(small, '\x16\x03\x01\x00\xff garbage\r\n\r\n', 400, 'TRELLIS_BAD_REQUEST');
    });
    it('a missing Host', async () => {
      await refused(small, `GET /ok HTTP/1.1\r\n\r\n`, 400, 'TRELLIS_BAD_REQUEST');
    });
    it('two Host headers (RFC 9112 §3.2)', async () => {
      await refused(small, `GET /ok HTTP/1.1\r\n${HOST}Host: other.test\r\n\r\n`, 400, 'TRELLIS_BAD_REQUEST');
    });
    it('a Host with a space or userinfo', async () => {
      await refused(small, `GET /ok HTTP/1.1\r\nHost: svc test\r\n\r\n`, 400, 'TRELLIS_BAD_REQUEST');
      await refused(small, `GET /ok HTTP/1.1\r\nHost: evil@svc.test\r\n\r\n`, 400, 'TRELLIS_BAD_REQUEST');
      await refused(small, `GET http://evil@svc.test/ok HTTP/1.1\r\n${HOST}\r\n`, 400, 'TRELLIS_BAD_REQUEST');
    });
    it('HTTP/2.0 and HTTP/0.9 request lines → 505', async () => {
      await refused(small, `GET /ok HTTP/2.0\r\n${HOST}\r\n`, 505, 'TRELLIS_HTTP_VERSION_NOT_SUPPORTED');
      await refused(small, `GET /\r\n\r\n`, 505, 'TRELLIS_HTTP_VERSION_NOT_SUPPORTED');
    });
  });

  describe('pipelining', () => {
    it('two requests in one write, the first with a body: both answered in order', async () => {
      const paths = upstream.paths.length;
      const bodies = upstream.bodies.length;
      const r = await rawExchange(
        small.port,
        `POST /first HTTP/1.1\r\n${HOST}Content-Length: 5\r\n\r\nhello` +
          `GET /second HTTP/1.1\r\n${HOST}\r\n\r\n`,
      );
      const { responses, rest } = parseResponses(r.data);
      assert.equal(rest, '');
      assert.deepEqual(
        responses.map((x) => [x.status, x.headers['x-body-length']]),
        [
          [200, '5'],
          [200, '0'],
        ],
      );
      assert.deepEqual(upstream.paths.slice(paths), ['/first', '/second']);
      assert.deepEqual(upstream.bodies.slice(bodies), [5, 0]);
      assert.equal(r.closed, false, 'both requests were valid: the connection stays open');
    });
    it('a chunked request followed by another one in the same write', async () => {
      const paths = upstream.paths.length;
      const r = await rawExchange(
        small.port,
        `POST /c1 HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n` +
          `GET /c2 HTTP/1.1\r\n${HOST}\r\n\r\n`,
      );
      const { responses } = parseResponses(r.data);
      assert.deepEqual(
        responses.map((x) => [x.status, x.headers['x-body-length']]),
        [
          [200, '5'],
          [200, '0'],
        ],
      );
      assert.deepEqual(upstream.paths.slice(paths), ['/c1', '/c2']);
    });
    it('a request followed by garbage: the first is answered, then 400 and close', async () => {
      const before = upstream.requests();
      const r = await rawExchange(small.port, `GET /ok HTTP/1.1\r\n${HOST}\r\nGARBAGE\0\x01\r\n\r\n`);
      const { responses, rest } = parseResponses(r.data);
      assert.equal(rest, '');
      assert.deepEqual(
        responses.map((x) => [x.status, x.headers['x-trellis-error']]),
        [
          [200, undefined],
          [400, 'TRELLIS_BAD_REQUEST'],
        ],
      );
      assert.equal(r.closed, true);
      assert.equal(upstream.requests(), before + 1);
      assert.deepEqual(await validGet(small.port), { status: 200, body: 'ok' });
    });
  });
});
