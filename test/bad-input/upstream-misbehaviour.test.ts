// Upstreams that reset, lie, hang or stop mid-body: the client gets the exact error (or an aborted
// connection once a response has started, never a short "complete" one), and the proxy goes on.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { describe, it } from 'node:test';
import {
  connect,
  parseResponses,
  rawExchange,
  startProxy,
  startRawUpstream,
  validGet,
  waitFor,
} from './support.ts';

const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: svc.test\r\n\r\n`;
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** An upstream whose first answer is `misbehave` and whose later answers are a valid 200 "ok". */
async function withUpstream(
  misbehave: (socket: net.Socket) => void,
  body: (port: number, upstream: Awaited<ReturnType<typeof startRawUpstream>>) => Promise<void>,
): Promise<void> {
  let first = true;
  const upstream = await startRawUpstream((socket) => {
    socket.on('data', () => {
      if (first) {
        first = false;
        misbehave(socket);
      } else socket.write(OK);
    });
  });
  const proxy = await startProxy(upstream.port);
  try {
    await body(proxy.port, upstream);
    // The proxy keeps serving: the next request gets a fresh, healthy upstream exchange.
    assert.deepEqual(await validGet(proxy.port, '/again'), { status: 200, body: 'ok' });
  } finally {
    await proxy.close();
    await upstream.close();
  }
}

async function expectError(port: number, path: string, status: number, code: string): Promise<void> {
  const r = await rawExchange(port, GET(path));
  const { responses, rest } = parseResponses(r.data);
  assert.equal(rest, '');
  assert.deepEqual(
    responses.map((x) => [x.status, x.headers['x-trellis-error']]),
    [[status, code]],
  );
}

describe('upstream misbehaviour', () => {
  it('resets the connection before answering → 502 TRELLIS_UPSTREAM_RESET', async () => {
    await withUpstream(
      (s) => s.resetAndDestroy(),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_RESET'),
    );
  });

  it('closes without answering → 502 TRELLIS_UPSTREAM_RESET', async () => {
    await withUpstream(
      (s) => s.end(),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_RESET'),
    );
  });

  it('answers an invalid status line (HTTP/1.1 abc) → 502 TRELLIS_UPSTREAM_PROTOCOL_ERROR', async () => {
    await withUpstream(
      (s) => s.write('HTTP/1.1 abc\r\n\r\n'),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('answers non-HTTP bytes → 502 TRELLIS_UPSTREAM_PROTOCOL_ERROR', async () => {
    await withUpstream(
      (s) => s.write('\0\x01\x02 not http at all\r\n\r\n'),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('answers status 099 (no HTTP status) → 502, not a client left waiting', async () => {
    await withUpstream(
      (s) => s.write('HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nok'),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('sends two Content-Length values → 502 TRELLIS_UPSTREAM_PROTOCOL_ERROR', async () => {
    await withUpstream(
      (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc'),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('sends Content-Length with Transfer-Encoding → 502 TRELLIS_UPSTREAM_PROTOCOL_ERROR', async () => {
    await withUpstream(
      (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('sends a NUL in a header value → 502 TRELLIS_UPSTREAM_PROTOCOL_ERROR', async () => {
    await withUpstream(
      (s) => s.write('HTTP/1.1 200 OK\r\nx-a: a\0b\r\nContent-Length: 2\r\n\r\nok'),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('sends endless response headers (200 KB) → 502, bounded memory', async () => {
    await withUpstream(
      (s) => s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(200_000)}\r\nContent-Length: 2\r\n\r\nok`),
      (port) => expectError(port, '/x', 502, 'TRELLIS_UPSTREAM_PROTOCOL_ERROR'),
    );
  });

  it('hangs → 504 TRELLIS_UPSTREAM_TIMEOUT after the route timeout, and the upstream socket is closed', async () => {
    let upstreamClosed = false;
    await withUpstream(
      (s) => s.once('close', () => (upstreamClosed = true)),
      async (port) => {
        await expectError(port, '/hang', 504, 'TRELLIS_UPSTREAM_TIMEOUT');
        assert.ok(await waitFor(() => upstreamClosed), 'the timed-out exchange must be cancelled upstream');
      },
    );
  });

  it('hangs and the client goes away → the upstream exchange is cancelled at once (no route timeout)', async () => {
    let upstreamClosed = false;
    await withUpstream(
      (s) => s.once('close', () => (upstreamClosed = true)),
      async (port) => {
        const socket = await connect(port);
        socket.write(GET('/x')); // route "rest": no timeout, only the client's departure ends it
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(upstreamClosed, false);
        socket.destroy();
        assert.ok(
          await waitFor(() => upstreamClosed),
          'a client that leaves must cancel its upstream exchange',
        );
      },
    );
  });

  for (const [name, head] of [
    ['Content-Length: 1000', 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789'],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n'],
  ] as const) {
    it(`closes mid-body (${name}, 10 bytes sent) → the client connection is aborted, never a complete response`, async () => {
      await withUpstream(
        (s) => {
          s.write(head);
          setTimeout(() => s.end(), 50);
        },
        async (port) => {
          const r = await rawExchange(port, GET('/x'), { quietMs: 1500 });
          assert.equal(r.closed, true, 'the proxy must close the client connection');
          const { responses, rest } = parseResponses(r.data);
          assert.equal(responses.length, 0, 'no complete response may reach the client');
          assert.match(rest, /^HTTP\/1\.1 200 OK\r\n/);
          assert.ok(rest.endsWith('0123456789') || rest.endsWith('0123456789\r\n'));
        },
      );
    });
  }

  it('sends a stray partial response after a complete one: the connection is not reused', async () => {
    // Response-queue poisoning: the stray bytes must never become the answer to the next request.
    await withUpstream(
      (s) => {
        s.write(`${OK}HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOI`);
        s.on('data', () => s.write('SON'));
      },
      async (port) => {
        const first = await validGet(port, '/first');
        assert.deepEqual(first, { status: 200, body: 'ok' });
        // Several sequential requests: none may be answered with the poisoned bytes.
        for (let i = 0; i < 3; i++)
          assert.deepEqual(await validGet(port, `/next${i}`), { status: 200, body: 'ok' });
      },
    );
  });
});
