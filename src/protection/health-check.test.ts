// Active health checks against real upstreams that are killed and restarted on the same port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { listen, portOf } from '../../test/support/sockets.ts';
import { clusterInput, directCluster, sendSequentially, startUpstream, waitFor } from './test-support.ts';

test('an HTTP health check marks a killed endpoint unhealthy, and healthy again when it restarts', async (t) => {
  const [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  t.after(() => Promise.all([a.close(), b.close()]).then(() => {}));
  const d = directCluster(
    clusterInput([a, b], {
      healthCheck: { http: { path: '/healthz' }, interval: 20, timeout: 500, unhealthyThreshold: 2 },
    }),
  );
  t.after(() => d.close());
  const bEp = d.cluster.endpoints.find((ep) => ep.port === b.port)!;
  await waitFor(() => b.requests >= 2, 'health checks reaching b');
  assert.equal(bEp.checkHealthy, true);

  await b.kill();
  await waitFor(() => !bEp.checkHealthy, 'b marked unhealthy');
  assert.ok(d.policy.healthCheckFailures.series({ cluster: 'up' }).value >= 2);
  const during = await sendSequentially(d, 10);
  assert.ok(
    during.every((r) => r.upstream === 'a'),
    'no traffic to the unhealthy endpoint',
  );

  await b.restart();
  await waitFor(() => bEp.checkHealthy, 'b healthy again');
  const after = await sendSequentially(d, 10);
  assert.ok(after.some((r) => r.upstream === 'b'));
});

test('expected statuses: 200-399 by default, or the configured list', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  up.status = 503;
  const check = { http: { path: '/healthz' }, interval: 60_000, timeout: 500, unhealthyThreshold: 1 };
  const d = directCluster(clusterInput([up], { healthCheck: check }), { timers: false });
  t.after(() => d.close());
  const checker = d.cluster.healthChecker!;
  checker.round();
  await waitFor(() => checker.probes === 1, 'one probe');
  assert.equal(d.cluster.endpoints[0]!.checkHealthy, false);

  up.status = 302;
  checker.round();
  await waitFor(() => checker.probes === 2, 'two probes');
  assert.equal(d.cluster.endpoints[0]!.checkHealthy, true, 'a redirect is healthy by default');

  const strict = d.reload(
    clusterInput([up], { healthCheck: { ...check, http: { path: '/healthz', expectedStatuses: [200] } } }),
  );
  strict.healthChecker!.round();
  await waitFor(() => strict.healthChecker!.probes === 1, 'a probe with the list');
  assert.equal(strict.endpoints[0]!.checkHealthy, false);
});

test('healthyThreshold successes in a row bring an endpoint back', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  const d = directCluster(
    clusterInput([up], {
      healthCheck: { tcp: {}, interval: 60_000, timeout: 500, unhealthyThreshold: 1, healthyThreshold: 3 },
      // With the default (50) a lone failing endpoint is used anyway: panic mode.
      panicThreshold: 0,
    }),
    { timers: false },
  );
  t.after(() => d.close());
  const checker = d.cluster.healthChecker!;
  const ep = d.cluster.endpoints[0]!;
  await up.kill();
  checker.round();
  await waitFor(() => checker.probes === 1, 'a failed connect');
  assert.equal(ep.checkHealthy, false);
  assert.equal((await d.send()).code, 'TRELLIS_NO_HEALTHY_ENDPOINT');
  await up.restart();
  for (let i = 1; i <= 3; i++) {
    assert.equal(ep.checkHealthy, false, `still unhealthy after ${i - 1} successes`);
    checker.round();
    await waitFor(() => checker.probes === 1 + i, `success ${i}`);
  }
  assert.equal(ep.checkHealthy, true);
  assert.equal((await d.send()).status, 200);
});

test('an HTTP/2 cluster is checked over HTTP/2', async (t) => {
  const paths: string[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    paths.push(String(headers[':path']));
    stream.respond({ ':status': 204 });
    stream.end();
  });
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await listen(server);
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const d = directCluster(
    {
      ...clusterInput([{ port: portOf(server) }], {
        healthCheck: { http: { path: '/ready' }, interval: 60_000, timeout: 500, unhealthyThreshold: 1 },
      }),
      protocol: 'http2',
    },
    { timers: false },
  );
  t.after(() => d.close());
  const checker = d.cluster.healthChecker!;
  checker.round();
  await waitFor(() => checker.probes === 1, 'one probe');
  assert.deepEqual(paths, ['/ready']);
  assert.equal(d.cluster.endpoints[0]!.checkHealthy, true);
});

test('a config without the health check stops the checker and lifts its verdicts', async (t) => {
  const up = await startUpstream('u');
  t.after(() => up.close());
  const d = directCluster(
    clusterInput([up], {
      healthCheck: { http: { path: '/healthz' }, interval: 10, timeout: 200, unhealthyThreshold: 1 },
    }),
  );
  t.after(() => d.close());
  up.status = 500;
  const ep = d.cluster.endpoints[0]!;
  await waitFor(() => !ep.checkHealthy, 'the endpoint failing its check');
  d.reload(clusterInput([up]));
  assert.equal(ep.checkHealthy, true, 'verdict lifted');
  assert.equal(d.cluster.healthChecker, undefined);
  const seen = up.requests;
  // Checks ran every 10 ms; none may run now. Bounded wait for anything that would still fire.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.ok(up.requests <= seen + 1, 'at most the probe already in flight finished');
  up.status = 200;
  assert.equal((await d.send()).status, 200);
});
