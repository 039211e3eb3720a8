// Connections that leave HTTP through the real proxy process: WebSocket upgrades, CONNECT
// tunnels, a plain TCP listener and a detect listener handing non-HTTP bytes to its tcpCluster.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { makeCert, type TestCert } from '../support/tls.ts';
import {
  cluster,
  curl,
  eventually,
  startNamedUpstream,
  startProxy,
  startTcpEcho,
  type ProxyProcess,
  type Upstream,
} from './harness.ts';

let proxy: ProxyProcess;
let echo: Upstream;
let web: Upstream;
let pairA: Upstream;
let pairB: Upstream;
let wsHttp: http.Server;
let wss: WebSocketServer;
let wsPort = 0;
let cert: TestCert;
let secureWeb: https.Server;

before(async () => {
  echo = await startTcpEcho();
  web = await startNamedUpstream('tunneled');
  pairA = await startNamedUpstream('pair-a');
  pairB = await startNamedUpstream('pair-b');
  wsHttp = http.createServer((_req, res) => res.end('not a websocket'));
  wss = new WebSocketServer({ server: wsHttp });
  wss.on('connection', (socket, req) => {
    socket.send(`hello ${req.url}`);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => wsHttp.listen(0, '127.0.0.1', () => resolve()));
  wsPort = (wsHttp.address() as net.AddressInfo).port;
  // An HTTPS server reached through CONNECT: the TLS session is end to end, the proxy sees bytes.
  cert = makeCert();
  secureWeb = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) =>
    res.end(`secure ${req.method} ${req.url} ${req.socket.remoteAddress}`),
  );
  await new Promise<void>((resolve) => secureWeb.listen(0, '127.0.0.1', () => resolve()));
  proxy = await startProxy({
    version: 'tunnels-e2e',
    listeners: [
      {
        name: 'detect',
        direction: 'outbound',
        port: 0,
        protocol: 'detect',
        routeTable: 'rt',
        tcpCluster: 'echo',
      },
      { name: 'tcp', direction: 'outbound', port: 0, protocol: 'tcp', tcpCluster: 'echo' },
    ],
    routeTables: [
      {
        name: 'rt',
        virtualHosts: [
          { name: 'echo', domains: ['echo-target:7'], routes: [{ backends: [{ cluster: 'echo' }] }] },
          {
            name: 'web',
            domains: ['web-target', 'web-target:80'],
            routes: [{ backends: [{ cluster: 'web' }] }],
          },
          {
            name: 'pair',
            domains: ['pair-target', 'pair-target:80'],
            routes: [{ backends: [{ cluster: 'pair' }] }],
          },
          {
            name: 'secure',
            domains: ['localhost:443'],
            routes: [{ backends: [{ cluster: 'secure' }] }],
          },
          { name: 'ws', domains: ['*'], routes: [{ backends: [{ cluster: 'ws' }] }] },
        ],
      },
    ],
    clusters: [
      cluster('echo', [echo.port], { protocol: 'tcp' }),
      cluster('web', [web.port]),
      cluster('pair', [pairA.port, pairB.port]),
      cluster('ws', [wsPort]),
      cluster('secure', [(secureWeb.address() as net.AddressInfo).port]),
    ],
  });
});

after(async () => {
  await proxy?.stop();
  await echo?.close();
  await web?.close();
  await pairA?.close();
  await pairB?.close();
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  wsHttp?.closeAllConnections();
  await new Promise<void>((resolve) => (wsHttp ? wsHttp.close(() => resolve()) : resolve()));
  secureWeb?.closeAllConnections();
  await new Promise<void>((resolve) => (secureWeb ? secureWeb.close(() => resolve()) : resolve()));
  cert?.cleanup();
});

/** Writes `payload` and resolves with the first `payload.length` bytes read back. */
function roundTrip(socket: net.Socket, payload: Buffer, already: Buffer = Buffer.alloc(0)): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = already;
    const onData = (c: Buffer): void => {
      got = Buffer.concat([got, c]);
      if (got.length >= payload.length) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`closed after ${got.length} bytes`)));
    socket.setTimeout(10_000, () => socket.destroy(new Error('timeout')));
    socket.write(payload);
  });
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

test('WebSocket: upgrade, messages both ways, clean close', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${proxy.ports.detect}/chat?room=1`);
  const messages: string[] = [];
  const gotTwo = new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      messages.push(String(d));
      if (messages.length === 2) resolve();
    });
    ws.once('error', reject);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send('ping from client');
  await gotTwo;
  assert.deepEqual(messages, ['hello /chat?room=1', 'ping from client']);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.close(1000, 'bye');
  assert.equal(await closed, 1000);
});

test('CONNECT tunnel (raw client) to a TCP echo server', async () => {
  const s = await connect(proxy.ports.detect!);
  try {
    const head = await new Promise<Buffer>((resolve, reject) => {
      let got = Buffer.alloc(0);
      const onData = (c: Buffer): void => {
        got = Buffer.concat([got, c]);
        if (got.includes('\r\n\r\n')) {
          s.off('data', onData);
          resolve(got);
        }
      };
      s.on('data', onData);
      s.once('error', reject);
      s.write('CONNECT echo-target:7 HTTP/1.1\r\nHost: echo-target:7\r\n\r\n');
    });
    const end = head.indexOf('\r\n\r\n') + 4;
    assert.match(head.subarray(0, end).toString('latin1'), /^HTTP\/1\.1 200/);
    const payload = randomBytes(64 * 1024);
    const back = await roundTrip(s, payload, head.subarray(end));
    assert.ok(back.equals(payload), 'echoed bytes differ');
  } finally {
    s.destroy();
  }
});

test('CONNECT tunnel with curl -p -x to an HTTP server', async () => {
  const r = await curl(['-p', '-x', `http://127.0.0.1:${proxy.ports.detect}`, 'http://web-target/through']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'tunneled GET /through');
});

test('CONNECT carrying TLS: curl verifies the upstream certificate end to end through the tunnel', async () => {
  const url = 'https://localhost/tls?x=1';
  const proxyUrl = `http://127.0.0.1:${proxy.ports.detect}`;
  const r = await curl(['-x', proxyUrl, '--cacert', cert.certPath, url]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'secure GET /tls?x=1 127.0.0.1');
  // Without the CA the handshake with the real upstream fails: nothing in between terminated TLS.
  const untrusted = await curl(['-x', proxyUrl, url]);
  assert.equal(untrusted.code, 60, `expected curl's certificate error, got ${untrusted.code}`);
});

test('HTTP inside a CONNECT tunnel is routed per request: one tunnel reaches both endpoints', async () => {
  const s = await connect(proxy.ports.detect!);
  try {
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.write('CONNECT pair-target:80 HTTP/1.1\r\nhost: pair-target:80\r\n\r\n');
    await eventually(() => got.includes('\r\n\r\n'));
    assert.match(got, /^HTTP\/1\.1 200/);
    got = '';
    // Four keep-alive requests in the one tunnel; round robin alternates them.
    for (let i = 0; i < 4; i++) s.write(`GET /n${i} HTTP/1.1\r\nhost: pair-target\r\n\r\n`);
    await eventually(() => (got.match(/GET \/n\d/g) ?? []).length === 4);
    assert.ok(got.includes('pair-a GET'), got);
    assert.ok(got.includes('pair-b GET'), got);
  } finally {
    s.destroy();
  }
});

test('tcp listener: bytes round-trip to the echo server', async () => {
  const s = await connect(proxy.ports.tcp!);
  try {
    const payload = randomBytes(256 * 1024);
    const back = await roundTrip(s, payload);
    assert.ok(back.equals(payload));
  } finally {
    s.destroy();
  }
});

test('detect listener: non-HTTP bytes go to its tcpCluster', async () => {
  const s = await connect(proxy.ports.detect!);
  try {
    const payload = Buffer.concat([Buffer.from([0x00, 0x01, 0xfe, 0xff]), randomBytes(4096)]);
    const back = await roundTrip(s, payload);
    assert.ok(back.equals(payload));
  } finally {
    s.destroy();
  }
});

test('closed tunnels leave no downstream connection behind (gauge back to 0)', async () => {
  // Regression: the HTTP/1 hand-over removed the listener's close tracking, so a finished
  // tunnel stayed "open" forever and every drain waited its full timeout.
  let last = '';
  await eventually(async () => {
    const m = await proxy.adminGet('/metrics');
    last = m.body
      .split('\n')
      .filter((l) => l.startsWith('trellis_downstream_connections_active'))
      .join('\n');
    return /listener="detect"\} 0$/m.test(last) && /listener="tcp"\} 0$/m.test(last);
  }, 3000).catch(() => assert.fail(`connections still open:\n${last}`));
});
