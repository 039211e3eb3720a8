import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as http2 from 'node:http2';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { classifyPrefix, detectProtocol, MAX_DETECT_BYTES, type DetectedProtocol } from './detect.ts';

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const TLS_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]);

interface Case {
  name: string;
  bytes: Buffer;
  want: DetectedProtocol;
  /** Length of the shortest prefix that decides; every shorter prefix is need-more. */
  decidesAt: number;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const cases: Case[] = [
  { name: 'h2 preface', bytes: latin1(H2_PREFACE + '\x00\x00'), want: 'http2', decidesAt: 24 },
  { name: 'tls 1.0 record', bytes: TLS_HELLO, want: 'tls', decidesAt: 6 },
  {
    name: 'tls 1.3 style (record 0x0301)',
    bytes: Buffer.from([0x16, 3, 1, 2, 0, 1, 0]),
    want: 'tls',
    decidesAt: 6,
  },
  { name: 'tls record 0x0304', bytes: Buffer.from([0x16, 3, 4, 0, 5, 1]), want: 'tls', decidesAt: 6 },
  { name: 'GET', bytes: latin1('GET / HTTP/1.1\r\nHost: a\r\n\r\n'), want: 'http1', decidesAt: 16 },
  { name: 'POST http/1.0', bytes: latin1('POST /x?y=1 HTTP/1.0\r\n'), want: 'http1', decidesAt: 22 },
  { name: 'PRI as HTTP/1 method', bytes: latin1('PRI * HTTP/1.1\r\n'), want: 'http1', decidesAt: 16 },
  { name: 'CONNECT', bytes: latin1('CONNECT a.b:443 HTTP/1.1\r\n'), want: 'http1', decidesAt: 26 },
  { name: 'extension method', bytes: latin1('M-SEARCH * HTTP/1.1\r\n'), want: 'http1', decidesAt: 21 },
  { name: 'utf-8 target', bytes: Buffer.from('GET /caf\u00e9 HTTP/1.1\r\n'), want: 'http1', decidesAt: 21 },
  { name: 'redis inline', bytes: latin1('GET key\r\n'), want: 'tcp', decidesAt: 8 },
  { name: 'memcached', bytes: latin1('get key 1\r\n'), want: 'tcp', decidesAt: 9 },
  { name: 'ssh banner', bytes: latin1('SSH-2.0-OpenSSH_9.6\r\n'), want: 'tcp', decidesAt: 20 },
  { name: 'http/0.9', bytes: latin1('GET /\r\n'), want: 'tcp', decidesAt: 6 },
  { name: 'bare LF', bytes: latin1('GET / HTTP/1.1\n'), want: 'tcp', decidesAt: 15 },
  { name: 'HTTP/2.0 request line', bytes: latin1('GET / HTTP/2.0\r\n'), want: 'tcp', decidesAt: 12 },
  { name: 'empty target', bytes: latin1('GET  HTTP/1.1\r\n'), want: 'tcp', decidesAt: 5 },
  { name: 'preface diverging late', bytes: latin1('PRI * HTTP/2.0\r\n\r\nXX'), want: 'tcp', decidesAt: 19 },
  { name: 'postgres startup', bytes: Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]), want: 'tcp', decidesAt: 1 },
  { name: 'tls alert, not hello', bytes: Buffer.from([0x16, 3, 3, 0, 2, 2, 40]), want: 'tcp', decidesAt: 6 },
  { name: 'tls bad version', bytes: Buffer.from([0x16, 3, 5, 0, 2, 1]), want: 'tcp', decidesAt: 3 },
  { name: 'tls zero length', bytes: Buffer.from([0x16, 3, 1, 0, 0, 1]), want: 'tcp', decidesAt: 5 },
  { name: 'long method', bytes: latin1('A'.repeat(40) + ' / HTTP/1.1\r\n'), want: 'tcp', decidesAt: 33 },
  { name: 'space first', bytes: latin1(' GET'), want: 'tcp', decidesAt: 1 },
];

test('classifyPrefix: every shorter prefix needs more, the deciding prefix decides', () => {
  for (const c of cases) {
    assert.equal(classifyPrefix(Buffer.alloc(0)), 'need-more');
    for (let n = 1; n < c.decidesAt; n++) {
      assert.equal(classifyPrefix(c.bytes.subarray(0, n)), 'need-more', `${c.name}: prefix of ${n}`);
    }
    for (let n = c.decidesAt; n <= c.bytes.length; n++) {
      assert.equal(classifyPrefix(c.bytes.subarray(0, n)), c.want, `${c.name}: prefix of ${n}`);
    }
  }
});

const EVENTS = ['data', 'end', 'error', 'close', 'readable'] as const;
function listenerCounts(s: net.Socket): number[] {
  return EVENTS.map((e) => s.listenerCount(e));
}

interface Entry {
  socket: net.Socket;
  result: Promise<{ protocol: DetectedProtocol; head: Buffer }>;
  /** Listener counts before detection, to check that detection removed all of its own. */
  baseline: number[];
}

/** A server whose connections go through detectProtocol; each accepted socket is returned. */
async function detectServer(t: TestContext, timeoutMs: number) {
  const results: Entry[] = [];
  const waiters: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const baseline = listenerCounts(socket);
    const result = detectProtocol(socket, timeoutMs);
    result.catch(() => {});
    results.push({ socket, result, baseline });
    waiters.shift()?.();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const port = (server.address() as net.AddressInfo).port;
  const next = async () => {
    if (results.length === 0) await new Promise<void>((r) => waiters.push(r));
    return results.shift()!;
  };
  const connect = async (): Promise<net.Socket> => {
    const c = net.connect({ host: '127.0.0.1', port, noDelay: true });
    c.on('error', () => {});
    t.after(() => c.destroy());
    await once(c, 'connect');
    return c;
  };
  return { port, next, connect };
}

/** Reads what remains on a detected socket until `total` bytes are seen (bounded by a timer). */
async function readRest(socket: net.Socket, total: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('readRest timed out')), 5000);
    if (total === 0) {
      clearTimeout(timer);
      resolve(Buffer.alloc(0));
      return;
    }
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (n >= total) {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      }
    });
    socket.resume();
  });
}

async function checkDetected(entry: Entry, want: DetectedProtocol, sent: Buffer): Promise<void> {
  const { protocol, head } = await entry.result;
  assert.equal(protocol, want);
  assert.ok(entry.socket.isPaused(), 'socket left paused');
  assert.equal(entry.socket.listenerCount('data'), 0);
  assert.deepEqual(listenerCounts(entry.socket), entry.baseline);
  assert.ok(sent.subarray(0, head.length).equals(head), 'head is a prefix of what was sent');
  const rest = await readRest(entry.socket, sent.length - head.length);
  assert.ok(Buffer.concat([head, rest]).equals(sent), 'nothing lost');
}

for (const { name, bytes, want } of [
  { name: 'http1', bytes: latin1('GET /hello HTTP/1.1\r\nHost: x\r\n\r\n'), want: 'http1' as const },
  {
    name: 'http2',
    bytes: latin1(H2_PREFACE + '\x00\x00\x00\x04\x00\x00\x00\x00\x00'),
    want: 'http2' as const,
  },
  { name: 'tls', bytes: TLS_HELLO, want: 'tls' as const },
  { name: 'tcp', bytes: latin1('GET key\r\nGET other\r\n'), want: 'tcp' as const },
]) {
  test(`detectProtocol: ${name} in one write, and one byte at a time`, async (t) => {
    const srv = await detectServer(t, 5000);
    const fast = await srv.connect();
    fast.write(bytes);
    await checkDetected(await srv.next(), want, bytes);

    const slow = await srv.connect();
    const entry = srv.next();
    for (let i = 0; i < bytes.length; i++) {
      slow.write(bytes.subarray(i, i + 1));
      await sleep(2);
    }
    await checkDetected(await entry, want, bytes);
  });
}

test('detectProtocol: real TLS and HTTP/2 clients', async (t) => {
  const srv = await detectServer(t, 5000);
  const tlsClient = tls.connect({ host: '127.0.0.1', port: srv.port, servername: 'example.test' });
  tlsClient.on('error', () => {});
  t.after(() => tlsClient.destroy());
  const tlsEntry = await srv.next();
  assert.equal((await tlsEntry.result).protocol, 'tls');
  tlsEntry.socket.destroy();

  const session = http2.connect(`http://127.0.0.1:${srv.port}`);
  session.on('error', () => {});
  t.after(() => session.destroy());
  const h2Entry = await srv.next();
  assert.equal((await h2Entry.result).protocol, 'http2');
  h2Entry.socket.destroy();
});

test('detectProtocol: a silent client is tcp after the timeout, with an empty head', async (t) => {
  const srv = await detectServer(t, 50);
  await srv.connect();
  const entry = await srv.next();
  const { protocol, head } = await entry.result;
  assert.equal(protocol, 'tcp');
  assert.equal(head.length, 0);
  assert.ok(entry.socket.isPaused());
});

test('detectProtocol: a partial HTTP prefix then silence is tcp with the bytes read', async (t) => {
  const srv = await detectServer(t, 50);
  const c = await srv.connect();
  c.write('GET /slow');
  const { protocol, head } = await (await srv.next()).result;
  assert.equal(protocol, 'tcp');
  assert.equal(head.toString(), 'GET /slow');
});

test('detectProtocol: FIN mid-detection resolves tcp with what was read', async (t) => {
  const srv = await detectServer(t, 5000);
  const c = await srv.connect();
  c.end('GE');
  const entry = await srv.next();
  const { protocol, head } = await entry.result;
  assert.equal(protocol, 'tcp');
  assert.equal(head.toString(), 'GE');
  assert.ok(entry.socket.readableEnded);
  assert.ok(!entry.socket.destroyed, 'our side stays open to answer');
  assert.deepEqual(listenerCounts(entry.socket), entry.baseline);
});

test('detectProtocol: a reset mid-detection rejects with TRELLIS_DOWNSTREAM_RESET', async (t) => {
  const srv = await detectServer(t, 5000);
  const c = await srv.connect();
  c.write('GE');
  const entry = await srv.next();
  await sleep(20);
  c.resetAndDestroy();
  await assert.rejects(entry.result, { code: 'TRELLIS_DOWNSTREAM_RESET' });
  assert.deepEqual(listenerCounts(entry.socket), entry.baseline);
});

test('detectProtocol: an already destroyed socket rejects', async () => {
  const s = new net.Socket();
  s.destroy();
  await assert.rejects(detectProtocol(s, 100), { code: 'TRELLIS_DOWNSTREAM_RESET' });
});

test('detectProtocol: undecided past MAX_DETECT_BYTES is tcp', async (t) => {
  const srv = await detectServer(t, 5000);
  const c = await srv.connect();
  const sent = latin1('GET /' + 'a'.repeat(MAX_DETECT_BYTES + 100) + ' HTTP/1.1\r\n');
  c.write(sent);
  const entry = await srv.next();
  const { protocol, head } = await entry.result;
  assert.equal(protocol, 'tcp');
  assert.ok(head.length >= MAX_DETECT_BYTES);
  assert.equal(classifyPrefix(sent), 'http1', 'a classifier without the cap would say http1');
  const rest = await readRest(entry.socket, sent.length - head.length);
  assert.ok(Buffer.concat([head, rest]).equals(sent));
});
