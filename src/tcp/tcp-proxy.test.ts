import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProxyError } from '../errors.ts';
import { proxyTcp, spliceSockets, type TcpProxyOptions } from './tcp-proxy.ts';

const MiB = 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const EVENTS = ['data', 'end', 'error', 'close', 'drain', 'timeout', 'connect'] as const;
const listenerCounts = (s: net.Socket): number[] => EVENTS.map((e) => s.listenerCount(e));

interface Closed {
  bytesFromClient: number;
  bytesFromUpstream: number;
  error?: ProxyError;
}

/** Listens on loopback port 0; closes the server and every accepted socket after the test. */
async function listen(
  t: TestContext,
  onConnection: (s: net.Socket) => void,
  options: net.ServerOpts = {},
): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(options, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    onConnection(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as net.AddressInfo).port;
}

async function dial(t: TestContext, port: number): Promise<net.Socket> {
  const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  c.on('error', () => {});
  t.after(() => c.destroy());
  await once(c, 'connect');
  return c;
}

/** Reads a socket to its end (or close), bounded by a timer. */
function readAll(s: net.Socket, ms = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('readAll timed out')), ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', done);
    s.once('close', done);
  });
}

/** A proxy listener in front of `target`; resolves each connection's onClosed stats in order. */
async function proxyListener(
  t: TestContext,
  target: { address: string; port: number },
  opts: Partial<TcpProxyOptions> = {},
  head: Buffer = Buffer.alloc(0),
) {
  const closed: Array<Promise<Closed>> = [];
  const accepted: Array<{ socket: net.Socket; baseline: number[] }> = [];
  const port = await listen(t, (client) => {
    accepted.push({ socket: client, baseline: listenerCounts(client) });
    closed.push(
      new Promise((resolve) => {
        const options = { connectTimeoutMs: 1000, idleTimeoutMs: 10_000, ...opts };
        proxyTcp(client, head, target, options, { onClosed: resolve });
      }),
    );
  });
  return { port, closed, accepted };
}

/** Resolves when the socket has closed (events.once would reject on 'error'). */
/** Resolves when the peer has closed its side (our test clients are half-open capable). */
const whenEnded = (s: net.Socket): Promise<void> =>
  s.readableEnded || s.closed ? Promise.resolve() : new Promise((resolve) => s.once('end', () => resolve()));

const whenClosed = (s: net.Socket): Promise<void> =>
  s.closed ? Promise.resolve() : new Promise((resolve) => s.once('close', () => resolve()));

const echo = (s: net.Socket): void => void s.pipe(s);

test('proxyTcp: echo round-trip with replayed head, listeners removed after close', async (t) => {
  const upstreamPort = await listen(t, echo, { allowHalfOpen: true });
  const proxy = await proxyListener(
    t,
    { address: '127.0.0.1', port: upstreamPort },
    {},
    Buffer.from('head:'),
  );
  const c = await dial(t, proxy.port);
  const reply = readAll(c);
  c.end('hello');
  assert.equal((await reply).toString(), 'head:hello');
  const stats = await proxy.closed[0]!;
  assert.deepEqual(stats, { bytesFromClient: 10, bytesFromUpstream: 10, error: undefined });
  const { socket, baseline } = proxy.accepted[0]!;
  assert.ok(socket.destroyed);
  assert.deepEqual(listenerCounts(socket), baseline);
});

test('proxyTcp: 8 MiB each way at once, intact (SHA-256)', async (t) => {
  const up = randomBytes(8 * MiB);
  const down = randomBytes(8 * MiB);
  let receivedUpstream: Promise<Buffer> | undefined;
  const upstreamPort = await listen(
    t,
    (s) => {
      receivedUpstream = readAll(s);
      s.end(down);
    },
    { allowHalfOpen: true },
  );
  const proxy = await proxyListener(t, { address: '127.0.0.1', port: upstreamPort });
  const c = await dial(t, proxy.port);
  const reply = readAll(c);
  c.end(up);
  assert.equal(sha256(await reply), sha256(down));
  assert.ok(receivedUpstream);
  assert.equal(sha256(await receivedUpstream), sha256(up));
  const stats = await proxy.closed[0]!;
  assert.equal(stats.bytesFromClient, up.length);
  assert.equal(stats.bytesFromUpstream, down.length);
  assert.equal(stats.error, undefined);
});

test('proxyTcp: half-close: the client ends, then still receives the whole answer', async (t) => {
  // Answers only after the client's FIN, with more than one socket buffer of data.
  const answer = randomBytes(2 * MiB);
  const upstreamPort = await listen(
    t,
    (s) => {
      let n = 0;
      s.on('data', (c: Buffer) => (n += c.length));
      s.on('end', () => s.end(Buffer.concat([Buffer.from(`got ${n};`), answer])));
    },
    { allowHalfOpen: true },
  );
  // The proxy's listener is NOT allowHalfOpen: proxyTcp must make the client socket half-open.
  const proxy = await proxyListener(t, { address: '127.0.0.1', port: upstreamPort });
  const c = await dial(t, proxy.port);
  const reply = readAll(c);
  c.end('12345');
  const got = await reply;
  assert.equal(got.subarray(0, 6).toString(), 'got 5;');
  assert.equal(sha256(got.subarray(6)), sha256(answer));
  assert.equal((await proxy.closed[0]!).error, undefined);
});

test('proxyTcp: the client FIN read during detection is forwarded', async (t) => {
  const upstreamPort = await listen(t, echo, { allowHalfOpen: true });
  const target = { address: '127.0.0.1', port: upstreamPort };
  let stats: Promise<Closed> | undefined;
  const port = await listen(t, (client) => {
    client.allowHalfOpen = true;
    client.on('end', () => {
      // Simulates detectProtocol resolving 'tcp' on FIN: 'end' already emitted, socket paused.
      client.pause();
      stats = new Promise((resolve) =>
        proxyTcp(
          client,
          Buffer.from('early'),
          target,
          { connectTimeoutMs: 1000, idleTimeoutMs: 0 },
          {
            onClosed: resolve,
          },
        ),
      );
    });
    client.resume();
  });
  const c = await dial(t, port);
  const reply = readAll(c);
  c.end();
  assert.equal((await reply).toString(), 'early');
  assert.ok(stats);
  assert.equal((await stats).error, undefined);
});

test('proxyTcp: connect refused closes the client and reports TRELLIS_UPSTREAM_CONNECT_FAILED', async (t) => {
  const closedServer = net.createServer();
  closedServer.listen(0, '127.0.0.1');
  await once(closedServer, 'listening');
  const deadPort = (closedServer.address() as net.AddressInfo).port;
  closedServer.close();
  await once(closedServer, 'close');

  const proxy = await proxyListener(t, { address: '127.0.0.1', port: deadPort });
  const c = await dial(t, proxy.port);
  const clientClosed = whenClosed(c);
  const stats = await proxy.closed[0]!;
  assert.equal(stats.error?.code, 'TRELLIS_UPSTREAM_CONNECT_FAILED');
  assert.equal(stats.bytesFromUpstream, 0);
  await clientClosed;
  const { socket, baseline } = proxy.accepted[0]!;
  assert.deepEqual(listenerCounts(socket), baseline);
});

test('proxyTcp: connect timeout (injected connect that never completes)', async (t) => {
  let pending: net.Socket | undefined;
  const connect = (): net.Socket => (pending = new net.Socket());
  const proxy = await proxyListener(t, { address: '127.0.0.1', port: 9 }, { connectTimeoutMs: 30, connect });
  const c = await dial(t, proxy.port);
  const clientClosed = whenClosed(c);
  const stats = await proxy.closed[0]!;
  assert.equal(stats.error?.code, 'TRELLIS_UPSTREAM_CONNECT_TIMEOUT');
  await clientClosed;
  assert.ok(pending?.destroyed, 'the pending upstream socket is destroyed');
});

test('proxyTcp: an upstream reset resets the client and reports TRELLIS_UPSTREAM_RESET', async (t) => {
  const upstreamPort = await listen(t, (s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  const proxy = await proxyListener(t, { address: '127.0.0.1', port: upstreamPort });
  const c = await dial(t, proxy.port);
  const clientError = new Promise<Error | undefined>((resolve) => {
    c.once('error', resolve);
    c.once('close', () => resolve(undefined));
  });
  c.write('boom');
  const stats = await proxy.closed[0]!;
  assert.equal(stats.error?.code, 'TRELLIS_UPSTREAM_RESET');
  assert.equal(((await clientError) as NodeJS.ErrnoException | undefined)?.code, 'ECONNRESET');
});

test('proxyTcp: the client going away while connecting reports TRELLIS_DOWNSTREAM_RESET', async (t) => {
  let pending: net.Socket | undefined;
  const connect = (): net.Socket => (pending = new net.Socket());
  const proxy = await proxyListener(
    t,
    { address: '127.0.0.1', port: 9 },
    { connectTimeoutMs: 5000, connect },
  );
  const c = await dial(t, proxy.port);
  c.resetAndDestroy();
  const stats = await proxy.closed[0]!;
  assert.equal(stats.error?.code, 'TRELLIS_DOWNSTREAM_RESET');
  assert.ok(pending?.destroyed);
});

test('proxyTcp: idle timeout closes both sides', async (t) => {
  let upstreamSide: net.Socket | undefined;
  const upstreamPort = await listen(t, (s) => (upstreamSide = s), { allowHalfOpen: true });
  const proxy = await proxyListener(t, { address: '127.0.0.1', port: upstreamPort }, { idleTimeoutMs: 50 });
  const c = await dial(t, proxy.port);
  const clientEnded = whenEnded(c);
  c.resume();
  const stats = await proxy.closed[0]!;
  assert.equal(stats.error?.code, 'TRELLIS_IDLE_TIMEOUT');
  await clientEnded;
  assert.ok(upstreamSide);
  // The upstream server is half-open capable: it sees our FIN as the end of its input.
  if (!upstreamSide.readableEnded) await once(upstreamSide, 'end');
});

/** Two connected pairs on loopback; returns [clientA, serverA, clientB, serverB]. */
async function twoPairs(t: TestContext): Promise<[net.Socket, net.Socket, net.Socket, net.Socket]> {
  const accepted: net.Socket[] = [];
  const waiters: Array<() => void> = [];
  const port = await listen(t, (s) => {
    accepted.push(s);
    waiters.shift()?.();
  });
  const next = async (): Promise<net.Socket> => {
    if (accepted.length === 0) await new Promise<void>((r) => waiters.push(r));
    return accepted.shift()!;
  };
  const clientA = await dial(t, port);
  const serverA = await next();
  const clientB = await dial(t, port);
  const serverB = await next();
  return [clientA, serverA, clientB, serverB];
}

test('spliceSockets: both directions intact, half-close each way, listeners removed', async (t) => {
  const [clientA, serverA, clientB, serverB] = await twoPairs(t);
  const baselineA = listenerCounts(serverA);
  const baselineB = listenerCounts(serverB);
  const closed = new Promise<{ bytesAtoB: number; bytesBtoA: number; error?: Error }>((resolve) =>
    spliceSockets(serverA, serverB, { idleTimeoutMs: 10_000 }, resolve),
  );
  const aToB = randomBytes(3 * MiB);
  const bToA = randomBytes(3 * MiB);
  const atB = readAll(clientB);
  const atA = readAll(clientA);
  clientA.end(aToB);
  clientB.end(bToA);
  assert.equal(sha256(await atB), sha256(aToB));
  assert.equal(sha256(await atA), sha256(bToA));
  assert.deepEqual(await closed, { bytesAtoB: aToB.length, bytesBtoA: bToA.length, error: undefined });
  assert.deepEqual(listenerCounts(serverA), baselineA);
  assert.deepEqual(listenerCounts(serverB), baselineB);
});

test('spliceSockets: traffic in one direction only keeps both alive', async (t) => {
  const [clientA, serverA, clientB, serverB] = await twoPairs(t);
  let closedEarly = false;
  spliceSockets(serverA, serverB, { idleTimeoutMs: 300 }, () => (closedEarly = true));
  clientA.resume();
  // Only B -> A: the timer lives on A, so writes to A must count as activity too.
  for (let i = 0; i < 8; i++) {
    clientB.write('x');
    await sleep(75);
  }
  assert.equal(closedEarly, false);
  clientA.end();
  clientB.end();
});

test('spliceSockets: idle timeout closes both', async (t) => {
  const [clientA, serverA, clientB, serverB] = await twoPairs(t);
  const closed = new Promise<{ error?: Error }>((resolve) =>
    spliceSockets(serverA, serverB, { idleTimeoutMs: 50 }, resolve),
  );
  const aClosed = whenEnded(clientA);
  const bClosed = whenEnded(clientB);
  // Traffic first, then silence: the timer must count from the last byte.
  clientA.write('ping');
  assert.equal(String((await once(clientB, 'data'))[0]), 'ping');
  clientA.resume();
  const { error } = await closed;
  assert.equal((error as ProxyError | undefined)?.code, 'TRELLIS_IDLE_TIMEOUT');
  await Promise.all([aClosed, bClosed]);
});
