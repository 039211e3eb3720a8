import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runLoadgen } from './loadgen.ts';

const BODY = 'y'.repeat(1024);

async function serve(
  t: { after: (fn: () => void) => void },
  mode: 'length' | 'chunked' | 'close' | 'error',
): Promise<string> {
  let n = 0;
  const server: Server = createServer((_req, res) => {
    n++;
    if (mode === 'error') {
      res.writeHead(503).end();
    } else if (mode === 'chunked') {
      res.write(BODY.slice(0, 500)); // no content-length: Node sends chunked
      res.end(BODY.slice(500));
    } else {
      // every 10th response closes its connection, as a server at its keep-alive limit does
      if (mode === 'close' && n % 10 === 0) res.setHeader('connection', 'close');
      res.writeHead(200, { 'content-length': BODY.length }).end(BODY);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const opts = { rate: 400, durationS: 0.5, warmupS: 0.1, connections: 4, drainS: 2 };

for (const mode of ['length', 'chunked', 'close'] as const) {
  test(`constant rate against a ${mode} server: every request answered and timed`, async (t) => {
    const r = await runLoadgen({ url: await serve(t, mode), ...opts });
    assert.deepEqual(r.errors, { socket: 0, status: 0, timeout: 0 });
    assert.equal(r.completed_total, 240);
    assert.equal(r.completed, 200);
    assert.equal(r.achieved_rps, 400);
    assert.ok(r.p50_ms > 0 && r.p50_ms <= r.p99_ms && r.p99_ms <= r.p999_ms);
  });
}

test('non-2xx answers are errors and not latency samples', async (t) => {
  const r = await runLoadgen({ url: await serve(t, 'error'), ...opts });
  assert.equal(r.errors.status, 240);
  assert.equal(r.completed, 0);
});

test('a port nobody listens on fails fast', async () => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  await assert.rejects(runLoadgen({ url: `http://127.0.0.1:${port}/`, ...opts }), /cannot connect/);
});
