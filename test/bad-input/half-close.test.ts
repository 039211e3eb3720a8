// A client that sends its request and then FIN (half-close) has gone away: on every HTTP listener
// kind, including `detect` (whose sniffing makes sockets half-open for TCP), the upstream request
// is cancelled, as nginx and Envoy do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collect, connect, startCountingUpstream, startProxy, waitFor } from './support.ts';

for (const protocol of ['http1', 'http', 'detect'] as const) {
  test(
    `${protocol} listener: a FIN from the client cancels the request in flight upstream`,
    { timeout: 8000 },
    async () => {
      const upstream = await startCountingUpstream();
      let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
      try {
        // No route timeout: only the client's FIN can end the request.
        proxy = await startProxy(upstream.port, { protocol }, '0s');
        const s = await connect(proxy.port);
        s.write('GET /hang/slow HTTP/1.1\r\nhost: x\r\n\r\n');
        assert.ok(await waitFor(() => upstream.inFlight() === 1), 'the request reached the upstream');
        s.end(); // FIN: the client will read no answer
        assert.ok(await waitFor(() => upstream.inFlight() === 0), 'the upstream request was cancelled');
        const p = proxy;
        assert.ok(await waitFor(() => p.openClientConnections() === 0), 'the client connection closed');
        s.destroy();
      } finally {
        await proxy?.close();
        await upstream.close();
      }
    },
  );
}

// The FIN can arrive before detection has seen a whole request line: detection then resolves with
// the socket already ended, and an `http` listener still serves the bytes as HTTP/1. Its 'end' was
// emitted before HTTP/1 listened, so HTTP/1 must notice the ended socket itself, or the connection
// would wait for the headers timeout.
test('http listener: a FIN during detection closes the connection', { timeout: 8000 }, async () => {
  const upstream = await startCountingUpstream();
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  try {
    proxy = await startProxy(upstream.port, { protocol: 'http', headersTimeout: '60s' });
    const s = await connect(proxy.port);
    const seen = collect(s);
    s.end('GET /hang'); // part of a request line, then FIN
    assert.ok(await waitFor(() => seen.closed()), 'the proxy closed the connection');
    const p = proxy;
    assert.ok(await waitFor(() => p.openClientConnections() === 0), 'the listener let it go');
    assert.equal(upstream.requests(), 0);
    s.destroy();
  } finally {
    await proxy?.close();
    await upstream.close();
  }
});
