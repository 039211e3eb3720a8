// Live tap end to end: a control plane with its CA, real sidecars (web → reviews over mesh mTLS),
// traffic flowing, and the tap seen three ways — the API, `trellis tap` (-o json and text) and
// `trellis top` — with identities, statuses and latencies; and the CLI's exit codes for an unknown
// target, a reader token and an unreachable control plane.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { launch, startApp, viaSidecar } from '../../sidecar/testing.ts';
import { TapLine } from '../../tap/event.ts';
import { api, defer, startTestControlPlane, waitFor, type TestControlPlane } from '../testing.ts';
import { openTap } from './testing.ts';
import { runNode, type CliRun } from '../../../test/support/child-process.ts';

const BIN = fileURLToPath(new URL('../../../bin/trellis.js', import.meta.url));
const WEB_ID = 'spiffe://cluster.local/ns/default/sa/web';
const REVIEWS_ID = 'spiffe://cluster.local/ns/default/sa/reviews';

/** `trellis ARGS` from the sources, killed after `timeoutMs`. */
// Generous: a CLI started from the TypeScript sources on a loaded 2-core CI machine takes seconds.
function trellis(t: TestContext, args: string[], timeoutMs = 60_000): Promise<CliRun> {
  return runNode([BIN, ...args], {
    env: { ...process.env, TRELLIS_ENTRY: 'src', NO_COLOR: '1', TRELLIS_TOKEN: '', TRELLIS_CONTROL: '' },
    timeoutMs,
    onSpawn: (child) => defer(t, () => child.kill('SIGKILL')),
  });
}

async function joinToken(cp: TestControlPlane, serviceAccount: string): Promise<string> {
  const res = await api<{ token: string }>(
    cp.url,
    'POST',
    '/api/v1/tokens',
    JSON.stringify({ namespace: 'default', serviceAccount }),
    { contentType: 'application/json' },
  );
  return res.body.token;
}

test(
  'tap, tap -o json and top show live mTLS requests with identities and statuses',
  { timeout: 90_000 },
  async (t) => {
    const cp = await startTestControlPlane(t, { streamAuth: true });
    const reviewsApp = await startApp(t, 'reviews');
    const webApp = await startApp(t, 'web');
    const reviews = await launch(t, [cp.url], 'reviews', reviewsApp.port, {
      joinToken: await joinToken(cp, 'reviews'),
    });
    const web = await launch(t, [cp.url], 'web', webApp.port, { joinToken: await joinToken(cp, 'web') });
    await Promise.all([reviews.control.firstSnapshot, web.control.firstSnapshot]);
    await waitFor('reviews over mTLS', async () => (await viaSidecar(web, 'http://reviews/')).status === 200);

    // Traffic all along: web calls reviews (200) and a path reviews' app answers too.
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        await viaSidecar(web, `http://reviews/reviews/${i % 3}`).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    defer(t, async () => {
      stop = true;
      await traffic;
    });

    // The API: inbound side of reviews.
    const tap = await openTap(
      t,
      cp.url,
      { target: { kind: 'service', name: 'reviews' }, headers: true },
      cp.adminToken,
    );
    assert.equal(tap.status, 200);
    const end = await tap.waitLine(
      'an end',
      (l): l is Extract<TapLine, { type: 'end' }> => l.type === 'end',
      10_000,
    );
    const req = tap.lines.find((l) => l.type === 'req' && l.id === end.id);
    const rsp = tap.lines.find((l) => l.type === 'rsp' && l.id === end.id);
    assert.ok(req?.type === 'req' && rsp?.type === 'rsp', 'req and rsp of that request');
    assert.equal(req.direction, 'inbound');
    assert.equal(req.tls, true);
    assert.equal(req.source.identity, WEB_ID);
    assert.equal(req.source.workload, 'web-v1');
    assert.equal(req.destination.identity, REVIEWS_ID);
    assert.equal(req.destination.workload, 'reviews-v1');
    assert.equal(req.proxy.name, reviews.registration.name);
    assert.match(req.path, /^\/reviews\/\d$/);
    assert.equal(rsp.status, 200);
    assert.equal(end.status, 200);
    assert.ok(end.responseBytes > 0);
    assert.ok(req.headers?.some(([k]) => k === 'user-agent' || k === 'host' || k === 'x-trellis-peer'));
    tap.close();

    const control = ['--control', cp.url, '--token', cp.adminToken!];
    // `trellis tap --to`: web's outbound side, as JSON lines.
    const json = await trellis(t, [
      'tap',
      'workload/' + web.registration.name,
      '--to',
      'reviews',
      '--duration',
      '3s',
      '-o',
      'json',
      ...control,
    ]);
    assert.equal(json.code, 0, json.stderr);
    assert.match(json.stderr, /tapping workload\/web-v1-\w+\.default \(outbound\) on 1 proxy/);
    const lines = json.stdout
      .trim()
      .split('\n')
      .map((l) => TapLine.parse(JSON.parse(l)));
    const out = lines.find((l) => l.type === 'req');
    assert.ok(out?.type === 'req', json.stdout);
    assert.equal(out.direction, 'outbound');
    assert.equal(out.tls, true);
    assert.equal(out.source.identity, WEB_ID);
    assert.equal(out.destination.service, 'reviews.default');
    assert.equal(out.destination.identity, REVIEWS_ID);
    assert.equal(out.destination.workload, 'reviews-v1');
    assert.ok(lines.some((l) => l.type === 'end' && l.status === 200));

    // Text, Linkerd's lines, filtered by path.
    const text = await trellis(t, ['tap', 'reviews', '--path', '/reviews/1', '--duration', '2s', ...control]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^req id=\d+:\d+ proxy=in {2}src=127\.0\.0\.1:\d+ src_id=spiffe:\/\/cluster\.local\/ns\/default\/sa\/web dst=127\.0\.0\.1:\d+ dst_id=spiffe:\/\/cluster\.local\/ns\/default\/sa\/reviews tls=true :method=GET :authority=reviews :path=\/reviews\/1$/m,
    );
    assert.match(text.stdout, /^rsp id=\d+:\d+ proxy=in .* :status=200 latency=\d+µs$/m);
    assert.match(
      text.stdout,
      /^end id=\d+:\d+ proxy=in .* duration=\d+µs request-length=0B response-length=\d+B$/m,
    );
    assert.doesNotMatch(text.stdout, /:path=\/reviews\/[02]/);

    // top, printed once (not a terminal), as JSON.
    const top = await trellis(t, ['top', 'reviews', '--duration', '2s', '-o', 'json', ...control]);
    assert.equal(top.code, 0, top.stderr);
    const table = JSON.parse(top.stdout) as {
      items: { source: string; destination: string; path: string; count: number; successRate: number }[];
    };
    const row = table.items.find((r) => r.path === '/reviews/1');
    assert.ok(row !== undefined, top.stdout);
    assert.equal(row.source, 'web-v1');
    assert.equal(row.destination, 'reviews-v1');
    assert.ok(row.count >= 1);
    assert.equal(row.successRate, 1);

    // Exit codes: unknown target and a reader token refused (1), no control plane (3).
    const unknown = await trellis(t, ['tap', 'nope', '--duration', '1s', ...control]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /service nope\.default not found/);
    const reader = await trellis(t, [
      'tap',
      'reviews',
      '--duration',
      '1s',
      '--control',
      cp.url,
      '--token',
      cp.readerToken!,
    ]);
    assert.equal(reader.code, 1);
    assert.match(reader.stderr, /reader token may not POST \/api\/v1\/tap/);
    const down = await trellis(t, [
      'top',
      'reviews',
      '--duration',
      '1s',
      '--control',
      'http://127.0.0.1:1',
      '--token',
      'x',
    ]);
    assert.equal(down.code, 3);
    assert.match(down.stderr, /cannot reach the control plane/);
  },
);
