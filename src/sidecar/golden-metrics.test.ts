// Golden metrics end to end: real sidecars with mTLS report to a real control plane; an upstream
// fails every 4th request with a 500, and `trellis stat|routes|edges` (real CLI processes) and the
// SMI TrafficMetrics API report exactly that, with mTLS between the two SPIFFE identities.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type net from 'node:net';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import type { StatResponse } from '../control/stats/api-stats.ts';
import type { TrafficMetrics } from '../control/stats/smi.ts';
import { api, defer, startTestControlPlane, waitFor, type TestControlPlane } from '../control/testing.ts';
import { freePort, launch, startApp, viaSidecar } from './testing.ts';

const BIN = fileURLToPath(new URL('../../bin/trellis.js', import.meta.url));
const WEB_ID = 'spiffe://cluster.local/ns/default/sa/web';
const REVIEWS_ID = 'spiffe://cluster.local/ns/default/sa/reviews';
const TOTAL = 20;

/** An app that answers 500 to every 4th request it gets, and counts them. */
async function flakyApp(t: TestContext): Promise<{ port: number; seen: () => number }> {
  let seen = 0;
  const server = http.createServer((_req, res) => {
    seen++;
    res.writeHead(seen % 4 === 0 ? 500 : 200, { 'content-length': 2 });
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(
    t,
    () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  );
  return { port: (server.address() as net.AddressInfo).port, seen: () => seen };
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

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(cp: TestControlPlane, args: string[], control = cp.url): Promise<Cli> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args, '--control', control, '--token', cp.adminToken ?? ''],
      { env: { ...process.env, NO_COLOR: '1', TRELLIS_ENTRY: 'src' }, timeout: 20_000 },
      (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
}

test(
  'stat, routes, edges and TrafficMetrics report an upstream failing 1 in 4, over mTLS',
  { timeout: 60_000 },
  async (t) => {
    const cp = await startTestControlPlane(t, { streamAuth: true, push: { statsIntervalMs: 200 } });
    const reviewsApp = await flakyApp(t);
    const webApp = await startApp(t, 'web');
    const reviews = await launch(t, [cp.url], 'reviews', reviewsApp.port, {
      joinToken: await joinToken(cp, 'reviews'),
    });
    const web = await launch(t, [cp.url], 'web', webApp.port, { joinToken: await joinToken(cp, 'web') });
    await Promise.all([reviews.control.firstSnapshot, web.control.firstSnapshot]);
    // Until web knows reviews its calls fail in its own sidecar; then every call reaches the app.
    await waitFor(
      'reviews through mTLS',
      async () => (await viaSidecar(web, 'http://reviews/')).status === 200,
    );
    while (reviewsApp.seen() < TOTAL) await viaSidecar(web, 'http://reviews/');
    assert.equal(reviewsApp.seen(), TOTAL);

    const stat = await waitFor('the reports of 20 requests', async () => {
      const res = await api<StatResponse>(
        cp.url,
        'GET',
        '/api/v1/stats/services?namespace=default&name=reviews',
      );
      const g = res.body.items[0]?.stats;
      return g !== undefined && g !== null && g.successCount + g.failureCount === TOTAL && g;
    });
    assert.equal(stat.successCount, 15);
    assert.equal(stat.failureCount, 5);
    assert.equal(stat.successRate, 0.75);

    const smi = await api<TrafficMetrics>(
      cp.url,
      'GET',
      '/apis/metrics.smi-spec.io/v1alpha1/namespaces/default/services/reviews',
    );
    const metric = (name: string): string | null | undefined =>
      smi.body.metrics.find((m) => m.name === name)?.value;
    assert.deepEqual([metric('success_count'), metric('failure_count')], ['15', '5']);

    const statCli = await cli(cp, ['stat', 'services', 'reviews', '-t', '1m']);
    assert.equal(statCli.code, 0, statCli.stderr);
    assert.match(
      statCli.stdout,
      /^NAME\s+MESHED\s+SUCCESS\s+RPS\s+LATENCY_P50\s+LATENCY_P95\s+LATENCY_P99\s+TCP_CONN$/m,
    );
    assert.match(statCli.stdout, /^reviews\s+1\/1\s+75\.00%\s+\S+rps\s+\S+ms\s+\S+ms\s+\S+ms\s+-$/m);

    // Web's sidecar counted the same calls on its side, on its catch-all route.
    const routes = await waitFor('the client side', async () => {
      const r = await cli(cp, ['routes', 'reviews', '-o', 'wide']);
      return /^\[DEFAULT\]\s+reviews\s+75\.00%.*\s15\s+5$/m.test(r.stdout) && r;
    });
    assert.equal(routes.code, 0);

    const edges = await cli(cp, ['edges']);
    assert.equal(edges.code, 0, edges.stderr);
    assert.match(edges.stdout, /^SRC\s+DST\s+SRC_NS\s+DST_NS\s+SECURED\s+CLIENT_ID\s+SERVER_ID$/m);
    const row = edges.stdout.split('\n').find((l) => l.startsWith('web-v1 '));
    assert.deepEqual(row?.split(/\s+/), [
      'web-v1',
      'reviews-v1',
      'default',
      'default',
      '√',
      WEB_ID,
      REVIEWS_ID,
    ]);

    // Exit codes scripts can trust: an unknown resource (1) and no control plane (3).
    const unknown = await cli(cp, ['stat', 'deploy', 'nope']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: deployments nope in namespace default not found$/m);
    const unreachable = await cli(cp, ['stat', 'svc'], `http://127.0.0.1:${await freePort()}`);
    assert.equal(unreachable.code, 3);
    assert.match(unreachable.stderr, /cannot reach the control plane/);
  },
);

test('stat --watch redraws until interrupted, then exits 0', { timeout: 30_000 }, async (t) => {
  const cp = await startTestControlPlane(t);
  const child = spawn(
    process.execPath,
    [
      BIN,
      'stat',
      'ns',
      '--watch',
      '--watch-interval',
      '0.1',
      '--control',
      cp.url,
      '--token',
      cp.adminToken ?? '',
    ],
    { env: { ...process.env, NO_COLOR: '1', TRELLIS_ENTRY: 'src' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  defer(t, () => void child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  await waitFor('two redraws', () => stderr.split('No namespaces found.').length > 2, 20_000);
  child.kill('SIGINT');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0);
});
