import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrkDuration, parseWrkOutput } from './wrk.ts';

const SAMPLE = `Running 1s test @ http://127.0.0.1:18080/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    88.19us   65.74us   1.32ms   96.33%
    Req/Sec    84.68k    21.01k  111.51k    60.00%
  Latency Distribution
     50%   78.00us
     75%  110.00us
     90%    1.30ms
     99%    2.01s
  83832 requests in 1.00s, 12.15MB read
Requests/sec:  83786.50
Transfer/sec:     12.15MB
WRK_DONE p999_us=1008 requests=83832 connect=0 read=1 write=0 status=2 timeout=3
`;

test('wrk durations in every unit become milliseconds', () => {
  assert.equal(parseWrkDuration('78.00us'), 0.078);
  assert.equal(parseWrkDuration('1.30ms'), 1.3);
  assert.equal(parseWrkDuration('2.01s'), 2010);
  assert.equal(parseWrkDuration('1.00m'), 60_000);
  assert.equal(parseWrkDuration('fast'), undefined);
});

test('wrk output with --latency and the done() line', () => {
  const r = parseWrkOutput(SAMPLE);
  assert.equal(r.rps, 83786.5);
  assert.equal(r.requests, 83832);
  assert.equal(r.p50_ms, 0.078);
  assert.equal(r.p75_ms, 0.11);
  assert.equal(r.p90_ms, 1.3);
  assert.equal(r.p99_ms, 2010);
  assert.equal(r.p999_ms, 1.008);
  assert.equal(r.errors, 6);
});

test('wrk output without the done() line falls back to the text error counts', () => {
  const text = SAMPLE.replace(/^WRK_DONE.*$/m, '').replace(
    'Requests/sec',
    '  Socket errors: connect 1, read 2, write 0, timeout 4\n  Non-2xx or 3xx responses: 5\nRequests/sec',
  );
  const r = parseWrkOutput(text);
  assert.equal(r.p999_ms, null);
  assert.equal(r.errors, 12);
});

test('output without a result is an error, not zeros', () => {
  assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'), /Requests\/sec/);
});
