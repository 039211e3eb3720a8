// A compiled snapshot served by a real, in-process proxy. Real upstream servers stand in for the
// peers' sidecar inbound ports (the mesh dials those) and for the proxy's own app.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { ProxyStats } from '../../metrics/proxy-stats.ts';
import { ProxyServer } from '../../proxy/proxy-server.ts';
import { compileSnapshot } from './compiler.ts';
import { asProxyWouldLoad, meshState, workload } from './testing.ts';

function listening(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closed(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An HTTP server answering with its name and the path and host it saw. */
function named(name: string): http.Server {
  return http.createServer((req, res) => res.end(`${name} ${req.url} ${req.headers.host}`));
}

function get(port: number, target: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // `target` in absolute form is what an HTTP_PROXY client sends.
    const req = http.request(
      { host: '127.0.0.1', port, path: target, headers: { host }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error(`no answer for ${target}`)));
    req.on('error', reject);
    req.end();
  });
}

/** CONNECT through the proxy, then one echo round trip on the tunnel. */
function connectAndEcho(port: number, authority: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: authority, agent: false });
    req.setTimeout(5000, () => req.destroy(new Error('CONNECT timed out')));
    req.on('error', reject);
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) return reject(new Error(`CONNECT answered ${res.statusCode}`));
      let got = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => {
        got += c;
        if (got.length >= payload.length) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
      socket.write(payload);
    });
    req.end();
  });
}

test('GET http://reviews/ through the compiled outbound listener reaches a reviews sidecar', async (t) => {
  const peers = [named('reviews-1'), named('reviews-2')];
  const app = named('web-app');
  const echo = net.createServer((s) => s.pipe(s));
  const servers: net.Server[] = [...peers, app, echo];
  t.after(() => Promise.all(servers.map(closed)));
  const [p1, p2, appPort, echoPort] = await Promise.all(servers.map(listening));

  const state = meshState({
    workloads: [
      workload('web-1', 'web', { address: '127.0.0.1', app: appPort }),
      workload('reviews-1', 'reviews', { address: '127.0.0.1', inbound: p1 }),
      workload('reviews-2', 'reviews', { address: '127.0.0.1', inbound: p2, version: 'v2' }),
      workload('db-1', 'db', { address: '127.0.0.1', inbound: echoPort, protocol: 'tcp', app: 5432 }),
    ],
  });
  const cfg = compileSnapshot(state, { workload: state.workloads[0]! });
  // Other tests share this machine: bind the proxy's own listeners wherever the kernel says.
  for (const l of cfg.listeners) l.port = 0;
  const proxy = new ProxyServer(
    asProxyWouldLoad(cfg),
    new ProxyStats(new Registry(), { defaultMetrics: false }),
  );
  t.after(() => proxy.drain(100));
  await proxy.start();
  const { outbound, inbound } = proxy.ports();
  assert.ok(outbound && inbound);

  for (let i = 0; i < 10; i++) {
    const res = await get(outbound, 'http://reviews/', 'reviews');
    assert.equal(res.status, 200);
    const [name, path, host] = res.body.split(' ');
    assert.ok(name === 'reviews-1' || name === 'reviews-2', res.body);
    assert.equal(path, '/');
    assert.equal(host, 'reviews');
  }

  // The FQDN with a port reaches the same service.
  const fqdn = await get(outbound, 'http://reviews.default.svc.cluster.local:9080/r/1', 'x');
  assert.equal(fqdn.status, 200);
  assert.match(fqdn.body, /^reviews-[12] \/r\/1 reviews\.default\.svc\.cluster\.local:9080$/);

  // A tcp service through CONNECT, to its sidecar's inbound port.
  assert.equal(await connectAndEcho(outbound, 'db:5432', 'ping'), 'ping');

  // The inbound listener hands mesh traffic to the local app.
  const local = await get(inbound, '/hello', 'web');
  assert.equal(local.status, 200);
  assert.equal(local.body, 'web-app /hello web');
});
