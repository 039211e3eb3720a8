// TCP edge metrics on a real mesh pair (opaque TCP over mTLS to a real echo app), and connections
// that STRICT mTLS refuses.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import type { Registry } from 'prom-client';
import { edgeLabels, startApps, startPair, valueOf } from './edge-testing.ts';

/** Sends `payload`, reads the echo back, half-closes, waits for the close. */
async function echo(port: number, payload: string): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.write(payload);
  let got = '';
  s.on('data', (d: Buffer) => {
    got += d.toString();
    if (got.length >= payload.length) s.end();
  });
  await once(s, 'close');
  return got;
}

/** Polls the registry (at most 2 s) until `name{labels}` reaches `want`. */
async function eventually(
  registry: Registry,
  name: string,
  labels: Record<string, string>,
  want: number,
): Promise<string> {
  let text = '';
  for (let i = 0; i < 100; i++) {
    text = await registry.metrics();
    if (valueOf(text, name, labels) === want) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return text;
}

test('a TCP connection: opened, closed and its bytes, on both sides', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps);
  assert.equal(await echo(pair.outboundTcp, 'hello tcp'), 'hello tcp');

  const source = edgeLabels('source');
  const client = await eventually(pair.clientRegistry, 'trellis_tcp_connections_closed_total', source, 1);
  assert.equal(valueOf(client, 'trellis_tcp_connections_opened_total', source), 1, client);
  assert.equal(valueOf(client, 'trellis_tcp_connections_closed_total', source), 1);
  assert.equal(valueOf(client, 'trellis_tcp_received_bytes_total', source), 9);
  assert.equal(valueOf(client, 'trellis_tcp_sent_bytes_total', source), 9);

  // Raw TCP carries no peer metadata: the caller is what its certificate proves.
  const destination = edgeLabels('destination', { source_workload: 'unknown', source_version: 'unknown' });
  const server = await eventually(
    pair.serverRegistry,
    'trellis_tcp_connections_closed_total',
    destination,
    1,
  );
  assert.equal(valueOf(server, 'trellis_tcp_connections_opened_total', destination), 1, server);
  assert.equal(valueOf(server, 'trellis_tcp_connections_closed_total', destination), 1);
  assert.equal(valueOf(server, 'trellis_tcp_received_bytes_total', destination), 9);
  assert.equal(valueOf(server, 'trellis_tcp_sent_bytes_total', destination), 9);
});

test('a CONNECT tunnel counts as a TCP connection of the edge', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps);
  const s = net.connect(pair.outbound, '127.0.0.1');
  await once(s, 'connect');
  s.write('CONNECT tcp.echo:7000 HTTP/1.1\r\nhost: tcp.echo:7000\r\n\r\n');
  let got = '';
  let established = false;
  s.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    if (!established && got.includes('\r\n\r\n')) {
      established = true;
      assert.match(got, /^HTTP\/1\.1 200 /);
      got = '';
      s.write('ping');
    } else if (established && got === 'ping') s.end();
  });
  await once(s, 'close');
  assert.equal(got, 'ping');
  const source = edgeLabels('source');
  const text = await eventually(pair.clientRegistry, 'trellis_tcp_connections_closed_total', source, 1);
  assert.equal(valueOf(text, 'trellis_tcp_connections_opened_total', source), 1, text);
  assert.equal(valueOf(text, 'trellis_tcp_received_bytes_total', source), 4);
  assert.equal(valueOf(text, 'trellis_tcp_sent_bytes_total', source), 4);
});

test('STRICT mTLS: plaintext and certificate-less callers count as denied (mtls_required)', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps);
  await assert.rejects(fetch(`http://127.0.0.1:${pair.inbound}/`));
  // TLS without a client certificate: refused in the handshake.
  const s = tls.connect({ port: pair.inbound, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise((resolve) => {
    s.on('error', () => {}); // the server's certificate_required alert
    s.on('close', resolve);
  });
  const labels = { reporter: 'destination', reason: 'mtls_required' };
  const text = await eventually(pair.serverRegistry, 'trellis_denied_requests_total', labels, 2);
  assert.equal(valueOf(text, 'trellis_denied_requests_total', labels), 2, text);
  assert.doesNotMatch(text, /^trellis_edge_requests_total\{/m, 'refused connections carry no requests');
});

test('a TCP connection AuthorizationPolicy denies: counted (rbac), never opened', async (t) => {
  const apps = await startApps(t);
  const pair = await startPair(t, apps, {
    inboundSecurity: {
      authorization: [
        {
          name: 'default/no-web',
          action: 'DENY',
          rules: [{ from: [{ source: { principals: ['cluster.local/ns/default/sa/web'] } }] }],
        },
      ],
    },
  });
  assert.equal(await echo(pair.outboundTcp, 'x'), '');
  const labels = { reporter: 'destination', reason: 'rbac' };
  const text = await eventually(pair.serverRegistry, 'trellis_denied_requests_total', labels, 1);
  assert.equal(valueOf(text, 'trellis_denied_requests_total', labels), 1, text);
  assert.doesNotMatch(text, /^trellis_tcp_connections_opened_total\{/m);
});
