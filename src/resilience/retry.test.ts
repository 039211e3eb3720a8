// Retries through the proxy against upstreams that really fail: 503s, resets before and after
// the response head, a closed port, a hanging server, a server process killed mid-request.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ProxyConfigInput } from '../model/schema.ts';
import {
  answer,
  closedPort,
  eventually,
  httpRequest,
  resilienceConfig,
  sleep,
  startCountingUpstream,
  startTestProxy,
  type CountingUpstream,
  type TestProxy,
} from './test-support.ts';

const fast = { base: 1, max: 5 };

async function proxyFor(t: TestContext, config: ProxyConfigInput): Promise<TestProxy> {
  const proxy = await startTestProxy(config);
  t.after(() => proxy.close());
  return proxy;
}

async function upstream(
  t: TestContext,
  handler: Parameters<typeof startCountingUpstream>[0],
): Promise<CountingUpstream> {
  const up = await startCountingUpstream(handler);
  t.after(() => up.close());
  return up;
}

test('503 then 200: the 503 never reaches the client, the retry answers', async (t) => {
  const up = await upstream(t, (req, res, n) =>
    answer(req, res, n === 1 ? 503 : 200, n === 1 ? 'busy' : 'ok'),
  );
  const proxy = await proxyFor(t, resilienceConfig({ retries: { retryOn: ['5xx'], backoff: fast } }, [up]));
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok');
  assert.equal(r.headers['x-trellis-attempts'], '2');
  assert.equal(up.requests, 2);
  assert.equal(proxy.retries(), 1);
  const plain = await httpRequest({ port: proxy.port });
  assert.equal(plain.headers['x-trellis-attempts'], '1');
});

test('a retry goes to an endpoint not tried yet: an always-503 endpoint is skipped', async (t) => {
  const bad = await upstream(t, (req, res) => answer(req, res, 503, 'bad', 'bad'));
  const good = await upstream(t, (req, res) => answer(req, res, 200, 'good', 'good'));
  // Weights 2:1: round robin picks "bad" first, then alternates bad, good, bad...
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['gateway-error'], attempts: 1, backoff: fast } }, [
      { port: bad.port, weight: 2 },
      { port: good.port, weight: 1 },
    ]),
  );
  let retried = 0;
  for (let i = 0; i < 6; i++) {
    const r = await httpRequest({ port: proxy.port });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'good');
    if (r.headers['x-trellis-attempts'] === '2') retried++;
  }
  assert.equal(retried, bad.requests, 'every visit to the bad endpoint was followed by one to the good one');
  assert.ok(retried >= 3);
  assert.equal(proxy.retries(), retried);
});

test('attempts exhausted: the last 503 is forwarded with x-trellis-attempts 3', async (t) => {
  const up = await upstream(t, (req, res) => answer(req, res, 503, 'still busy'));
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['5xx'], attempts: 2, backoff: fast } }, [up]),
  );
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 503);
  assert.equal(r.body, 'still busy');
  assert.equal(r.headers['x-trellis-attempts'], '3');
  assert.equal(up.requests, 3);
});

test('a connection reset before the response head is retried', async (t) => {
  const up = await upstream(t, (req, res, n) => {
    if (n === 1) req.socket.destroy();
    else answer(req, res, 200, 'after reset');
  });
  const proxy = await proxyFor(t, resilienceConfig({ retries: { retryOn: ['reset'], backoff: fast } }, [up]));
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'after reset');
  assert.equal(r.headers['x-trellis-attempts'], '2');
});

test('once a response head was forwarded, a reset is never retried', async (t) => {
  const up = await upstream(t, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': '100' });
    res.write('partial');
    setTimeout(() => req.socket.destroy(), 50);
  });
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['5xx', 'reset'], backoff: fast } }, [up]),
  );
  await assert.rejects(httpRequest({ port: proxy.port }));
  await sleep(100);
  assert.equal(up.requests, 1);
  assert.equal(proxy.retries(), 0);
});

test('a refused connection (closed port) is retried on the other endpoint', async (t) => {
  const good = await upstream(t, (req, res) => answer(req, res, 200, 'good'));
  const closed = await closedPort();
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['connect-failure'], backoff: fast } }, [
      { port: closed, weight: 2 },
      { port: good.port, weight: 1 },
    ]),
  );
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-trellis-attempts'], '2');
  for (let i = 0; i < 4; i++) assert.equal((await httpRequest({ port: proxy.port })).status, 200);
});

test('a hanging endpoint: the per-try timeout cancels that try and the next endpoint answers', async (t) => {
  const hang = await upstream(t, (req) => req.resume());
  const good = await upstream(t, (req, res) => answer(req, res, 200, 'good'));
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['gateway-error'], perTryTimeout: '150ms', backoff: fast } }, [
      { port: hang.port, weight: 2 },
      { port: good.port, weight: 1 },
    ]),
  );
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'good');
  assert.equal(r.headers['x-trellis-attempts'], '2');
  await eventually(() => hang.aborted === 1);
  assert.equal(hang.requests, 1);
});

test('an upstream process killed mid-request: the retry answers from another endpoint', async (t) => {
  const fixture = fileURLToPath(new URL('./fixtures/hanging-upstream.ts', import.meta.url));
  const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const events: string[] = [];
  lines.on('line', (l) => {
    events.push(l);
    if (l.startsWith('request')) child.kill('SIGKILL');
  });
  await eventually(() => events.some((l) => l.startsWith('port ')), 10_000);
  const childPort = Number(events.find((l) => l.startsWith('port '))!.slice(5));
  const good = await upstream(t, (req, res) => answer(req, res, 200, 'survivor'));
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['reset', 'connect-failure'], backoff: fast } }, [
      { port: childPort, weight: 2 },
      { port: good.port, weight: 1 },
    ]),
  );
  const r = await httpRequest({ port: proxy.port, path: '/doomed' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'survivor');
  assert.equal(r.headers['x-trellis-attempts'], '2');
  assert.ok(events.includes('request /doomed'), 'the killed process had the request');
  const [, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, 'SIGKILL');
});

test('POST is not retried on 503, but is retried on a connect failure', async (t) => {
  const busy = await upstream(t, (req, res) => answer(req, res, 503, 'busy'));
  const proxy503 = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['5xx'], backoff: fast } }, [busy]),
  );
  const r1 = await httpRequest({ port: proxy503.port, method: 'POST', body: 'order #1' });
  assert.equal(r1.status, 503);
  assert.equal(r1.headers['x-trellis-attempts'], '1');
  assert.equal(busy.requests, 1);

  let seen = '';
  const good = await upstream(t, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen = body;
      res.end('created');
    });
  });
  const proxy = await proxyFor(
    t,
    resilienceConfig({ retries: { retryOn: ['5xx'], backoff: fast } }, [
      { port: await closedPort(), weight: 2 },
      { port: good.port, weight: 1 },
    ]),
  );
  const r2 = await httpRequest({ port: proxy.port, method: 'POST', body: 'order #2' });
  assert.equal(r2.status, 200);
  assert.equal(r2.headers['x-trellis-attempts'], '2');
  assert.equal(seen, 'order #2');
});

test('the route timeout caps the retries: 504, and the hanging retry is cancelled upstream', async (t) => {
  const up = await upstream(t, (req, res, n) => (n === 1 ? answer(req, res, 503, 'busy') : req.resume()));
  const proxy = await proxyFor(
    t,
    resilienceConfig({ timeout: '400ms', retries: { retryOn: ['5xx'], backoff: fast } }, [up]),
  );
  const r = await httpRequest({ port: proxy.port });
  assert.equal(r.status, 504);
  assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_TIMEOUT');
  await eventually(() => up.aborted === 1);
  assert.equal(up.requests, 2);
});

test('a client that leaves cancels the try in flight, and no retry follows', async (t) => {
  let inFlight: () => void = () => {};
  const second = new Promise<void>((resolve) => (inFlight = resolve));
  const up = await upstream(t, (req, res, n) => {
    if (n === 1) answer(req, res, 503, 'busy');
    else {
      req.resume();
      inFlight();
    }
  });
  const proxy = await proxyFor(t, resilienceConfig({ retries: { retryOn: ['5xx'], backoff: fast } }, [up]));
  const client = http.request({ host: '127.0.0.1', port: proxy.port, path: '/', agent: false });
  client.on('error', () => {});
  client.end();
  await second;
  client.destroy();
  await eventually(() => up.aborted === 1);
  await sleep(100);
  assert.equal(up.requests, 2);
});
