// A `detect` listener with no TCP cluster (a sidecar's inbound) does not give up on a client whose
// first bytes come after detectTimeout: on a busy host a ClientHello or request line can be read
// late, and taking it for a server-first TCP client would close the connection.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { ProxyConfig } from '../model/schema.ts';
import { listen, portOf } from '../../test/support/sockets.ts';
import { ProxyServer } from './proxy-server.ts';

test('a detect listener without a TCP cluster serves a request sent after detectTimeout', async (t) => {
  const upstream = http.createServer((_req, res) => res.end('ok'));
  await listen(upstream);
  t.after(() => upstream.close());
  const proxy = new ProxyServer(
    ProxyConfig.parse({
      version: 'v1',
      listeners: [
        {
          name: 'in',
          direction: 'inbound',
          port: 0,
          protocol: 'detect',
          routeTable: 'rt',
          detectTimeout: '50ms',
          headersTimeout: '5s',
        },
      ],
      routeTables: [
        {
          name: 'rt',
          virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ backends: [{ cluster: 'app' }] }] }],
        },
      ],
      clusters: [{ name: 'app', endpoints: [{ address: '127.0.0.1', port: portOf(upstream) }] }],
    }),
    new ProxyStats(new Registry()),
  );
  await proxy.start();
  t.after(() => proxy.drain(100));

  const socket = net.connect(proxy.ports().in!, '127.0.0.1');
  t.after(() => socket.destroy());
  let received = '';
  socket.setEncoding('utf8').on('data', (d: string) => (received += d));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  await sleep(300); // six detect timeouts of silence
  socket.write('GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n');
  await Promise.race([closed, sleep(5000)]);
  assert.match(received, /^HTTP\/1\.1 200 /);
  assert.match(received, /\r\n\r\nok$/);
});
