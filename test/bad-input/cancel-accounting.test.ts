// A client that leaves mid-request: the upstream exchange is cancelled, the request is still
// counted (as 499, client closed), and its route timer never fires a late 504.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, startCountingUpstream, startProxy, waitFor } from './support.ts';

test('a client that leaves mid-request is counted once as 499 and its timeout never fires', async (t) => {
  const upstream = await startCountingUpstream();
  t.after(() => upstream.close());
  const p = await startProxy(upstream.port);
  t.after(() => p.close());
  const s = await connect(p.port);
  s.write('GET /hang/1 HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.ok(await waitFor(() => upstream.inFlight() === 1), 'the upstream sees the request');
  s.destroy();
  assert.ok(await waitFor(() => upstream.inFlight() === 0), 'the upstream request is cancelled');
  const counters = p.stats.requestStats({
    direction: 'outbound',
    listener: 'in',
    route: 'hang',
    cluster: 'up',
  });
  assert.equal(counters.requests, 1);
  assert.equal(counters.latencyCount, 1);
  assert.equal(counters.responses[3], 1, 'counted as 4xx (499)');
  // the route timeout is 300 ms: nothing more may be recorded after it would have fired
  await new Promise((r) => setTimeout(r, 450));
  assert.equal(counters.latencyCount, 1);
  assert.equal(counters.responses[4], 0, 'no late 504');
});
