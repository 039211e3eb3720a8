// Local rate limits: the token bucket's arithmetic on an explicit clock (fills on the bucket's
// tick, the LRU bound of keyed buckets), then through a real proxy: 429 with retry-after and the
// x-ratelimit-* headers, refill, keys by header and by source address, the inbound direction.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TokenBuckets } from './token-bucket.ts';
import { request, sleep, startPolicyProxy, startRecordingUpstream } from './test-support.ts';
import type { RecordingUpstream, RunningProxy } from './test-support.ts';

describe('token buckets', () => {
  it('start full, fill on their own tick, never above maxTokens', () => {
    const b = new TokenBuckets({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 100 }, 0);
    assert.equal(b.take(null, 0), true);
    assert.equal(b.take(null, 1), true);
    assert.equal(b.take(null, 2), true);
    assert.equal(b.take(null, 99), false);
    assert.equal(b.msUntilFill(b.bucket(null, 99), 99), 1);
    // t=150: one fill (at 100) added 2 tokens.
    assert.equal(b.take(null, 150), true);
    assert.equal(b.take(null, 150), true);
    assert.equal(b.take(null, 150), false);
    assert.equal(b.msUntilFill(b.bucket(null, 150), 150), 50, 'next fill at 200, not 250');
    // A long idle time fills up to the maximum only.
    for (let i = 0; i < 3; i++) assert.equal(b.take(null, 10_000), true);
    assert.equal(b.take(null, 10_000), false);
  });

  it('keep one bucket per key, at most maxKeys, dropping the least recently used', () => {
    const b = new TokenBuckets({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1_000_000 }, 0, 3);
    for (const k of ['a', 'b', 'c']) assert.equal(b.take(k, 0), true);
    assert.equal(b.take('a', 1), false); // 'a' is now the most recent
    assert.equal(b.take('d', 1), true); // evicts 'b', the least recently used
    assert.equal(b.size, 3);
    assert.equal(b.take('a', 2), false, 'a kept');
    assert.equal(b.take('c', 2), false, 'c kept');
    assert.equal(b.take('b', 2), true, 'b was dropped and starts full');
    for (let i = 0; i < 100; i++) b.take(`k${i}`, 3);
    assert.equal(b.size, 3);
  });
});

describe('rate limit through the proxy', () => {
  let upstream: RecordingUpstream;
  let proxy: RunningProxy;
  before(async () => {
    upstream = await startRecordingUpstream('app');
    proxy = await startPolicyProxy(
      [
        {
          // An hour between fills: no fill can land inside a test's burst.
          name: 'limited',
          match: { path: { prefix: '/limited' } },
          backends: [{ cluster: 'app' }],
          rateLimit: { maxTokens: 2, tokensPerFill: 1, fillInterval: '1h' },
        },
        {
          name: 'refill',
          match: { path: { prefix: '/refill' } },
          backends: [{ cluster: 'app' }],
          rateLimit: { maxTokens: 1, tokensPerFill: 1, fillInterval: '300ms' },
        },
        {
          name: 'per-tenant',
          match: { path: { prefix: '/tenant' } },
          backends: [{ cluster: 'app' }],
          rateLimit: { maxTokens: 1, tokensPerFill: 1, fillInterval: '1h', key: { header: 'X-Tenant' } },
        },
        {
          name: 'per-caller',
          match: { path: { prefix: '/caller' } },
          backends: [{ cluster: 'app' }],
          rateLimit: { maxTokens: 1, tokensPerFill: 1, fillInterval: '1h', key: { sourceIp: true } },
        },
      ],
      { app: { ports: [upstream.port] } },
    );
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('answers 429 with retry-after and x-ratelimit-* past the bucket, never calling upstream', async () => {
    const seen = upstream.seen.length;
    assert.equal((await request({ port: proxy.port, path: '/limited' })).status, 200);
    assert.equal((await request({ port: proxy.port, path: '/limited' })).status, 200);
    const r = await request({ port: proxy.port, path: '/limited' });
    assert.equal(r.status, 429);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_RATE_LIMITED');
    assert.equal(r.headers['x-ratelimit-limit'], '2');
    assert.equal(r.headers['x-ratelimit-remaining'], '0');
    // Seconds until the next fill, at most the hour.
    const reset = Number(r.headers['x-ratelimit-reset']);
    assert.ok(reset > 3500 && reset <= 3600, `reset ${reset}`);
    assert.equal(r.headers['retry-after'], String(reset));
    assert.equal(upstream.seen.length, seen + 2, 'the refused request never reached upstream');
    assert.equal(proxy.stats.policy.rateLimited.series({ direction: 'outbound', route: 'limited' }).value, 1);
  });

  it('lets requests through again once the bucket refills', async () => {
    const get = async () => (await request({ port: proxy.port, path: '/refill' })).status;
    let status = 0;
    for (let i = 0; i < 10 && status !== 429; i++) status = await get();
    assert.equal(status, 429, 'the bucket ran dry');
    // A refused poll costs no token; the next fill gives one back.
    const deadline = performance.now() + 5000;
    while (status !== 200 && performance.now() < deadline) {
      await sleep(50);
      status = await get();
    }
    assert.equal(status, 200, 'a token came back');
  });

  it('keys buckets by a header; requests without it share one bucket', async () => {
    const get = (tenant?: string) =>
      request({ port: proxy.port, path: '/tenant', headers: tenant ? { 'x-tenant': tenant } : {} });
    assert.equal((await get('a')).status, 200);
    assert.equal((await get('a')).status, 429);
    assert.equal((await get('b')).status, 200);
    assert.equal((await get()).status, 200);
    assert.equal((await get()).status, 429);
    // Long values are kept as digests: still one bucket per value.
    const long = (c: string) => c.repeat(300);
    assert.equal((await get(long('x'))).status, 200);
    assert.equal((await get(long('x'))).status, 429);
    assert.equal((await get(long('y'))).status, 200);
  });

  it('keys buckets by source address', async () => {
    const from = (localAddress: string) => request({ port: proxy.port, path: '/caller', localAddress });
    assert.equal((await from('127.0.0.1')).status, 200);
    assert.equal((await from('127.0.0.1')).status, 429);
    assert.equal((await from('127.0.0.2')).status, 200);
    assert.equal((await from('127.0.0.2')).status, 429);
  });

  it('limits the inbound direction with buckets and counters of its own', async () => {
    const seen = upstream.seen.length;
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await request({ port: proxy.inboundPort, path: '/limited-in' })).status);
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.equal(upstream.seen.length, seen + 2);
    assert.equal(proxy.stats.policy.rateLimited.series({ direction: 'inbound', route: 'limited' }).value, 1);
  });
});
