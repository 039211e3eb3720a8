// `trellis tap` lines and `trellis top` rows from tap events, and the tap flags read into a request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TapEventLine } from '../tap/event.ts';
import { CliError } from './api-client.ts';
import { parseTapTarget, tapBody } from './tap-client.ts';
import { bodyText, formatLatency, TapPrinter, TopTable } from './tap-format.ts';

const proxy = { name: 'reviews-v1-abc', namespace: 'default' };

function req(id: string, path: string, source = 'web-v1'): TapEventLine {
  return {
    type: 'req',
    id,
    proxy,
    time: 0,
    direction: 'inbound',
    source: { address: '10.0.0.1', port: 4000, identity: 'spiffe://td/ns/default/sa/web', workload: source },
    destination: { address: '127.0.0.1', port: 9080, workload: 'reviews-v1', namespace: 'default' },
    tls: true,
    method: 'GET',
    scheme: 'http',
    authority: 'reviews:9080',
    path,
    protocol: 'http1',
    grpc: false,
    headers: [['cookie', '<redacted>']],
  };
}

function end(id: string, durationUs: number, status = 200, extra: Partial<TapEventLine> = {}): TapEventLine {
  return {
    type: 'end',
    id,
    proxy,
    status,
    durationUs,
    requestBytes: 0,
    responseBytes: 12,
    ...extra,
  } as TapEventLine;
}

test('tap lines: Linkerd-style req, rsp, end, with headers and body prefixes', () => {
  const p = new TapPrinter();
  assert.equal(
    p.format(req('0:1', '/r?x=1')),
    'req id=0:1 proxy=in  src=10.0.0.1:4000 src_id=spiffe://td/ns/default/sa/web dst=127.0.0.1:9080 tls=true ' +
      ':method=GET :authority=reviews:9080 :path=/r?x=1\n    cookie: <redacted>',
  );
  assert.equal(
    p.format({ type: 'rsp', id: '0:1', proxy, status: 503, latencyUs: 1234 }),
    'rsp id=0:1 proxy=in  src=10.0.0.1:4000 src_id=spiffe://td/ns/default/sa/web dst=127.0.0.1:9080 tls=true :status=503 latency=1234µs',
  );
  const last = p.format(
    end('0:1', 2000, 503, {
      error: 'TRELLIS_NO_HEALTHY_ENDPOINT',
      responseBody: { base64: Buffer.from('no healthy').toString('base64'), truncated: true },
    } as Partial<TapEventLine>),
  );
  assert.match(
    last,
    /^end id=0:1 proxy=in {2}src=.* tls=true :status=503 error=TRELLIS_NO_HEALTHY_ENDPOINT duration=2000µs request-length=0B response-length=12B$/m,
  );
  assert.match(last, /^ {4}response-body \(10B, truncated\): "no healthy"$/m);
  // -o wide names the workloads and the proxy.
  assert.match(
    new TapPrinter(true).format(req('0:2', '/')),
    /src_workload=web-v1 .* dst_workload=reviews-v1 dst_ns=default .* pod=reviews-v1-abc/,
  );
});

test('bodies print as text when printable, else base64', () => {
  assert.equal(
    bodyText({ base64: Buffer.from('{"a":1}\n').toString('base64'), truncated: false }),
    '"{\\"a\\":1}\\n"',
  );
  const binary = Buffer.from([0, 1, 2, 255]).toString('base64');
  assert.equal(bodyText({ base64: binary, truncated: false }), `base64:${binary}`);
  // A character cut at the end of the prefix does not make it binary.
  const cut = Buffer.from('héllo €').subarray(0, 9).toString('base64');
  assert.equal(bodyText({ base64: cut, truncated: true }), '"héllo "');
});

test('top: rows by source, destination, method and path, with best, worst, last and success', () => {
  const top = new TopTable();
  top.add(req('0:1', '/a?page=1'));
  top.add(req('0:2', '/a?page=2'));
  top.add(req('0:3', '/b'));
  top.add(req('1:1', '/a', 'other-v1'));
  top.add(end('0:1', 900));
  top.add(end('0:2', 3000, 503));
  top.add(end('0:3', 50, 200, { grpcStatus: 14 } as Partial<TapEventLine>));
  top.add(end('1:1', 10));
  top.add(end('9:9', 10)); // its req was never seen: ignored
  const rows = top.sorted();
  assert.equal(top.requests, 4);
  assert.deepEqual(
    rows.map((r) => [r.source, r.path, r.count, r.bestUs, r.worstUs, r.lastUs, r.successRate]),
    [
      ['web-v1', '/a', 2, 900, 3000, 3000, 0.5],
      ['other-v1', '/a', 1, 10, 10, 10, 1],
      ['web-v1', '/b', 1, 50, 50, 50, 0],
    ],
  );
  assert.deepEqual(
    [formatLatency(850), formatLatency(1500), formatLatency(42_000), formatLatency(2_500_000)],
    ['850µs', '1.5ms', '42ms', '2.5s'],
  );
});

test('tap flags: targets, filters and limits; bad values refused with exit code 1', () => {
  assert.deepEqual(parseTapTarget('reviews', 'prod'), {
    kind: 'service',
    namespace: 'prod',
    name: 'reviews',
  });
  assert.deepEqual(parseTapTarget('svc/reviews', 'default'), {
    kind: 'service',
    namespace: 'default',
    name: 'reviews',
  });
  assert.deepEqual(parseTapTarget('workload/web-1', 'default'), {
    kind: 'workload',
    namespace: 'default',
    name: 'web-1',
  });
  assert.deepEqual(
    tapBody('reviews', {
      namespace: 'default',
      method: 'post',
      path: '/x',
      to: 'ratings',
      maxRps: '10',
      bodies: '64',
      headers: true,
      duration: '30s',
    }),
    {
      target: { kind: 'service', namespace: 'default', name: 'reviews' },
      filter: { method: 'POST', pathPrefix: '/x', to: 'ratings' },
      maxRps: 10,
      headers: true,
      bodyBytes: 64,
      duration: 30_000,
    },
  );
  for (const bad of [
    () => parseTapTarget('deploy/web', 'default'),
    () => tapBody('reviews', { namespace: 'default', maxRps: '5000' }),
    () => tapBody('reviews', { namespace: 'default', bodies: 'lots' }),
    () => tapBody('reviews', { namespace: 'default', duration: 'forever' }),
  ]) {
    assert.throws(bad, (err: unknown) => err instanceof CliError && err.exitCode === 1);
  }
});
