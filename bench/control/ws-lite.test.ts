// The minimal client against the `ws` server the control plane uses: handshake, masked sends,
// fragmented and big messages (head only), ping, and the close code the server gave.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { LiteWebSocket, type LiteMessage } from './ws-lite.ts';

async function server(t: TestContext): Promise<{ url: string; next: () => Promise<WebSocket> }> {
  const srv = http.createServer();
  const wss = new WebSocketServer({ server: srv });
  const waiting: ((ws: WebSocket) => void)[] = [];
  const ready: WebSocket[] = [];
  wss.on('connection', (ws) => {
    const w = waiting.shift();
    if (w) w(ws);
    else ready.push(ws);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => srv.close(resolve));
  });
  const { port } = srv.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/api/v1/stream`,
    next: () =>
      new Promise((resolve) => (ready.length > 0 ? resolve(ready.shift()!) : waiting.push(resolve))),
  };
}

interface Client {
  ws: LiteWebSocket;
  messages: LiteMessage[];
  closed: Promise<[number, string]>;
  opened: Promise<void>;
}

function client(t: TestContext, url: string, wholeUpTo?: number): Client {
  const messages: LiteMessage[] = [];
  let open = (): void => {};
  let close = (_: [number, string]): void => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  const closed = new Promise<[number, string]>((resolve) => (close = resolve));
  const ws = new LiteWebSocket(url, {
    ...(wholeUpTo === undefined ? {} : { wholeUpTo }),
    onOpen: open,
    onMessage: (m) => messages.push(m),
    onClose: (code, reason) => close([code, reason]),
  });
  t.after(() => ws.terminate());
  return { ws, messages, closed, opened };
}

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test('sends masked text the server reads exactly, at every length encoding', async (t) => {
  const s = await server(t);
  const c = client(t, s.url);
  const peer = await s.next();
  await c.opened;
  const got: string[] = [];
  peer.on('message', (d, isBinary) => {
    assert.equal(isBinary, false);
    got.push(d.toString());
  });
  const texts = ['hi', 'é'.repeat(100), 'x'.repeat(70_000)];
  for (const text of texts) c.ws.send(text);
  await until('all three arrive', () => got.length === 3);
  assert.deepEqual(got, texts);
});

test('a fragmented message arrives whole when small, as its first bytes and length when big', async (t) => {
  const s = await server(t);
  const c = client(t, s.url, 1000);
  const peer = await s.next();
  await c.opened;
  peer.send(Buffer.from('{"type":"snap'), { binary: false, fin: false });
  peer.send(Buffer.from('shot","version":"7"}'), { binary: false, fin: true });
  const big = `{"type":"snapshot","version":"8","config":"${'a'.repeat(300_000)}"}`;
  peer.send(Buffer.from(big.slice(0, 100_000)), { binary: false, fin: false });
  peer.send(Buffer.from(big.slice(100_000)), { binary: false, fin: true });
  peer.send('{"type":"welcome","heartbeatMs":1000}');
  await until('three messages', () => c.messages.length === 3);
  const [small, large, last] = c.messages;
  assert.deepEqual(small, {
    data: Buffer.from('{"type":"snapshot","version":"7"}'),
    length: 33,
    whole: true,
  });
  assert.equal(large?.whole, false);
  assert.equal(large?.length, big.length);
  assert.equal(large?.data.toString(), big.slice(0, large?.data.length));
  assert.ok((large?.data.length ?? 0) >= 64);
  assert.equal(last?.data.toString(), '{"type":"welcome","heartbeatMs":1000}');
});

test('answers a ping, and reports the close code and reason the server sent', async (t) => {
  const s = await server(t);
  const c = client(t, s.url);
  const peer = await s.next();
  await c.opened;
  const pong = new Promise<string>((resolve) => peer.once('pong', (d) => resolve(d.toString())));
  peer.ping('are you there');
  assert.equal(await pong, 'are you there');
  peer.close(4400, 'TRELLIS_BAD_STREAM_MESSAGE');
  assert.deepEqual(await c.closed, [4400, 'TRELLIS_BAD_STREAM_MESSAGE']);
  assert.equal(c.ws.isOpen, false);
});

test('a refused upgrade ends as 1006 without opening', async (t) => {
  const srv = http.createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => srv.close(resolve)));
  const { port } = srv.address() as AddressInfo;
  let opened = false;
  const code = await new Promise<number>((resolve) => {
    const ws = new LiteWebSocket(`ws://127.0.0.1:${port}/`, {
      onOpen: () => (opened = true),
      onMessage: () => {},
      onClose: (c) => resolve(c),
    });
    t.after(() => ws.terminate());
  });
  assert.equal(code, 1006);
  assert.equal(opened, false);
});

test('sends the extra upgrade headers (a join token), and refuses a value with a line break', async (t) => {
  const srv = http.createServer();
  const wss = new WebSocketServer({ server: srv });
  const seen = new Promise<string | undefined>((resolve) =>
    wss.once('connection', (_ws, req) => resolve(req.headers.authorization)),
  );
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const c of wss.clients) c.terminate();
    await new Promise((resolve) => wss.close(resolve));
    await new Promise((resolve) => srv.close(resolve));
  });
  const url = `ws://127.0.0.1:${(srv.address() as AddressInfo).port}/api/v1/stream`;
  const callbacks = { onOpen: () => {}, onMessage: () => {}, onClose: () => {} };
  const ws = new LiteWebSocket(url, { ...callbacks, headers: { authorization: 'Bearer join-123' } });
  t.after(() => ws.terminate());
  assert.equal(await seen, 'Bearer join-123');
  assert.throws(
    () => new LiteWebSocket(url, { ...callbacks, headers: { authorization: 'Bearer x\r\nX-Evil: 1' } }),
    /line break/,
  );
});
