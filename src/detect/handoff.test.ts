// Pins the recipes for handing a detected socket, with its head, to Node's own servers. Node's
// HTTP/1 server reads the socket's handle directly (bypassing bytes buffered in JS), so the order
// of unshift / emit('connection') / resume matters; these tests fail if a Node upgrade changes it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectProtocol } from './detect.ts';
import { makeCert } from '../../test/support/tls.ts';

function selfSignedCert(t: TestContext): { key: Buffer; cert: Buffer } {
  const c = makeCert();
  t.after(() => c.cleanup());
  return c;
}

/** A detect-mode front listener handing sockets to Node's HTTP/1, HTTP/2 and TLS servers. */
async function front(t: TestContext, tlsOptions?: { key: Buffer; cert: Buffer }): Promise<number> {
  const h1 = http.createServer((req, res) => res.end(`h1 ${req.url}`));
  const h2 = http2.createServer((req, res) => res.end(`h2 ${req.url}`));
  const sockets = new Set<net.Socket>();
  const server = net.createServer(async (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const detected = await detectProtocol(socket, 1000).catch(() => null);
    if (detected === null) return; // the client went away during detection
    const { protocol, head } = detected;
    socket.unshift(head);
    if (protocol === 'http1') {
      h1.emit('connection', socket);
      socket.resume(); // delivers the unshifted head to the parser, then the handle takes over
    } else if (protocol === 'http2') {
      h2.emit('connection', socket); // the HTTP/2 session reads what is buffered itself
    } else if (protocol === 'tls' && tlsOptions) {
      h1.emit('connection', new tls.TLSSocket(socket, { isServer: true, ...tlsOptions }));
    } else socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
    h1.close();
    h2.close();
  });
  return (server.address() as net.AddressInfo).port;
}

async function rawExchange(t: TestContext, port: number, request: string, byteByByte: boolean) {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {});
  t.after(() => c.destroy());
  await once(c, 'connect');
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  const ended = once(c, 'end');
  if (!byteByByte) c.write(request);
  else {
    for (const ch of request) {
      c.write(ch);
      await sleep(1);
    }
  }
  await ended;
  return Buffer.concat(chunks).toString();
}

test('handoff: HTTP/1 pipelined requests, in one write and byte by byte', async (t) => {
  const port = await front(t);
  const request = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  for (const byteByByte of [false, true]) {
    const reply = await rawExchange(t, port, request, byteByByte);
    assert.match(reply, /\r\n\r\nh1 \/a/);
    assert.match(reply, /\r\n\r\nh1 \/b$/);
  }
});

test('handoff: HTTP/2 prior knowledge', async (t) => {
  const port = await front(t);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/b' });
  let body = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => (body += d));
  await once(stream, 'end');
  assert.equal(body, 'h2 /b');
  session.close();
});

test('handoff: TLS terminated over the detected socket', async (t) => {
  const port = await front(t, selfSignedCert(t));
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.get(
      { host: '127.0.0.1', port, path: '/c', rejectUnauthorized: false, agent: false },
      (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (b += d));
        res.on('end', () => resolve(b));
      },
    );
    req.on('error', reject);
  });
  assert.equal(body, 'h1 /c');
});
