// A reload that fails (a new listener cannot bind) leaves the config in force fully working,
// including the connection pools that the rejected config would have dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { Registry } from 'prom-client';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import type { ProxyConfigInput } from '../model/schema.ts';
import { ProxyConfig } from '../model/schema.ts';
import { listen, portOf } from '../../test/support/sockets.ts';
import { ProxyServer } from './proxy-server.ts';

function config(upstreamPort: number, extraListenerPort?: number): ProxyConfigInput {
  return {
    version: extraListenerPort === undefined ? 'good' : 'rejected',
    listeners: [
      { name: 'out', direction: 'outbound', port: 0, protocol: 'http1', routeTable: 'rt' },
      ...(extraListenerPort === undefined
        ? []
        : [
            {
              name: 'extra',
              direction: 'outbound' as const,
              port: extraListenerPort,
              protocol: 'tcp' as const,
              tcpCluster: 'other',
            },
          ]),
    ],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          {
            name: 'all',
            domains: ['*'],
            routes: [{ backends: [{ cluster: extraListenerPort === undefined ? 'h2' : 'other' }] }],
          },
        ],
      },
    ],
    clusters:
      extraListenerPort === undefined
        ? [{ name: 'h2', protocol: 'http2', endpoints: [{ address: '127.0.0.1', port: upstreamPort }] }]
        : [
            {
              name: 'other',
              protocol: 'http1',
              endpoints: [{ address: '127.0.0.1', port: upstreamPort + 1 }],
            },
          ],
  };
}

async function get(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  await res.text();
  return res.status;
}

test('a reload that cannot bind keeps the config in force and its upstream connections working', async (t) => {
  const upstream = http2.createServer((_req, res) => res.end('ok'));
  await listen(upstream);
  t.after(() => upstream.close());
  const occupied = net.createServer();
  await listen(occupied);
  t.after(() => occupied.close());

  const proxy = new ProxyServer(
    ProxyConfig.parse(config(portOf(upstream))),
    new ProxyStats(new Registry(), { defaultMetrics: false }),
  );
  await proxy.start();
  t.after(() => proxy.drain(100));
  const port = proxy.ports().out!;
  assert.equal(await get(port), 200);

  await assert.rejects(proxy.reload(ProxyConfig.parse(config(portOf(upstream), portOf(occupied)))));
  assert.equal(proxy.version, 'good');
  assert.equal(await get(port), 200, 'the HTTP/2 upstream of the config in force still takes requests');
});

test('a route keeps its series across reloads even when it had no traffic in between', async (t) => {
  const upstream = http2.createServer((_req, res) => res.end('ok'));
  await listen(upstream);
  t.after(() => upstream.close());
  const registry = new Registry();
  const cfg = config(portOf(upstream));
  const proxy = new ProxyServer(ProxyConfig.parse(cfg), new ProxyStats(registry, { defaultMetrics: false }));
  await proxy.start();
  t.after(() => proxy.drain(100));
  assert.equal(await get(proxy.ports().out!), 200);
  await proxy.reload(ProxyConfig.parse({ ...cfg, version: 'v2' }));
  await proxy.reload(ProxyConfig.parse({ ...cfg, version: 'v3' }));
  const text = await registry.metrics();
  assert.match(
    text,
    /^trellis_requests_total\{direction="outbound",listener="out",route="all\/0",cluster="h2"\} 1$/m,
  );
});
