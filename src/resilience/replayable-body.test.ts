// Request bodies sent more than once: the replay buffer on its own (flow control, replay then
// live, the limit), then through the proxy against real upstreams (a 10 KiB POST replayed intact
// to the second endpoint, a body still arriving when the retry starts, a 100 KiB body not retried).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { test, type TestContext } from 'node:test';
import type { BodySink, RequestBody } from '../proxy/types.ts';
import { ReplayableBody } from './replayable-body.ts';
import {
  answer,
  httpRequest,
  resilienceConfig,
  sleep,
  startCountingUpstream,
  startTestProxy,
  type CountingUpstream,
} from './test-support.ts';

/** A request body whose bytes the test pushes; records whether it was asked to pause. */
class FakeSource implements RequestBody {
  sink: BodySink | null = null;
  paused = false;
  resumes = 0;
  pipe(sink: BodySink): void {
    this.sink = sink;
  }
  resume(): void {
    this.paused = false;
    this.resumes++;
  }
  push(text: string): void {
    if (!this.sink!.data(Buffer.from(text))) this.paused = true;
  }
}

/** A sink that takes `accept` chunks before saying "pause". */
function sink(
  accept = Infinity,
): BodySink & { text: string; ended: boolean; failure: Error | null; accept: number } {
  const s = {
    text: '',
    ended: false,
    failure: null as Error | null,
    accept,
    data(chunk: Buffer): boolean {
      s.text += chunk.toString();
      return --s.accept > 0;
    },
    end(): void {
      s.ended = true;
    },
    error(err: Error): void {
      s.failure = err;
    },
  };
  return s;
}

test('the first try streams live; a later try replays the copy, then continues live', () => {
  const source = new FakeSource();
  const body = new ReplayableBody(source, 1024);
  const first = body.reader()!;
  const s1 = sink();
  first.pipe(s1);
  source.push('abc');
  source.push('def');
  assert.equal(s1.text, 'abcdef');
  first.detach(); // the first try failed
  const second = body.reader()!;
  const s2 = sink();
  second.pipe(s2);
  assert.equal(s2.text, 'abcdef', 'replayed');
  source.push('ghi');
  source.sink!.end(null);
  assert.equal(s2.text, 'abcdefghi', 'then live');
  assert.equal(s2.ended, true);
  assert.equal(s1.text, 'abcdef', 'a detached reader gets nothing more');
  assert.equal(body.complete, true);
});

test('flow control: a congested try pauses the source, its resume() releases it', () => {
  const source = new FakeSource();
  const body = new ReplayableBody(source, 1024);
  const reader = body.reader()!;
  const s = sink(1);
  reader.pipe(s);
  source.push('a');
  assert.equal(source.paused, true);
  source.push('b'); // a source may deliver what it already had
  assert.equal(s.text, 'a', 'held while the sink is congested');
  s.accept = Infinity;
  reader.resume();
  assert.equal(s.text, 'ab');
  assert.equal(source.paused, false);
  assert.equal(source.resumes, 1);
});

test('past the limit the body is not replayable; the live try still gets every byte', () => {
  const source = new FakeSource();
  const body = new ReplayableBody(source, 4);
  const reader = body.reader()!;
  const s = sink();
  reader.pipe(s);
  source.push('abc');
  assert.equal(body.replayable, true);
  source.push('defg');
  assert.equal(body.replayable, false);
  assert.equal(body.reader(), null);
  source.push('hij');
  source.sink!.end(null);
  assert.equal(s.text, 'abcdefghij');
  assert.equal(s.ended, true);
});

test('a body that fails reaches the try in flight, and no later try can start', () => {
  const source = new FakeSource();
  const body = new ReplayableBody(source, 1024);
  const s = sink();
  body.reader()!.pipe(s);
  source.push('abc');
  source.sink!.error(new Error('client went away'));
  assert.equal(s.failure?.message, 'client went away');
  assert.equal(body.reader(), null);
});

// ---- through the proxy ----

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function pair(
  t: TestContext,
): Promise<{ busy: CountingUpstream; echo: CountingUpstream; got: Buffer[] }> {
  const got: Buffer[] = [];
  const busy = await startCountingUpstream((req, res) => answer(req, res, 503, 'busy'));
  const echo = await startCountingUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const all = Buffer.concat(chunks);
      got.push(all);
      res.setHeader('x-sha256', sha(all));
      res.end(`${all.length}`);
    });
  });
  t.after(() => Promise.all([busy.close(), echo.close()]));
  return { busy, echo, got };
}

const retryPost = { retryOn: ['5xx' as const], retryNonIdempotent: true, backoff: { base: 1, max: 5 } };

test('a 10 KiB POST body arrives intact on the second endpoint', async (t) => {
  const { busy, echo, got } = await pair(t);
  const proxy = await startTestProxy(
    resilienceConfig({ retries: retryPost }, [
      { port: busy.port, weight: 2 },
      { port: echo.port, weight: 1 },
    ]),
  );
  t.after(() => proxy.close());
  const body = Buffer.from(Array.from({ length: 10 * 1024 }, (_, i) => i % 251));
  const r = await httpRequest({ port: proxy.port, method: 'POST', body });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-trellis-attempts'], '2');
  assert.equal(busy.requests, 1);
  assert.equal(got.length, 1);
  assert.equal(r.headers['x-sha256'], sha(body));
});

test('a body still arriving when the retry starts is replayed, then follows live', async (t) => {
  const { echo, got } = await pair(t);
  // Answers 503 as soon as the head arrives, before any body byte.
  const early = await startCountingUpstream((_req, res) => {
    res.statusCode = 503;
    res.end('early no');
  });
  t.after(() => early.close());
  const proxy = await startTestProxy(
    resilienceConfig({ retries: retryPost }, [
      { port: early.port, weight: 2 },
      { port: echo.port, weight: 1 },
    ]),
  );
  t.after(() => proxy.close());
  const body = Buffer.from(Array.from({ length: 10 * 1024 }, (_, i) => (i * 7) % 256));
  const r = await new Promise<{ status: number; sha: string }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: proxy.port,
        method: 'POST',
        agent: false,
        headers: { 'content-length': String(body.length) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, sha: String(res.headers['x-sha256']) }));
      },
    );
    req.on('error', reject);
    req.write(body.subarray(0, 4096));
    setTimeout(() => req.end(body.subarray(4096)), 150);
  });
  assert.equal(r.status, 200);
  assert.equal(early.requests, 1);
  assert.equal(got.length, 1);
  assert.equal(r.sha, sha(body));
});

test('a 100 KiB body is over the replay limit: no retry, the 503 goes to the client', async (t) => {
  const { busy, echo } = await pair(t);
  const proxy = await startTestProxy(
    resilienceConfig({ retries: retryPost }, [
      { port: busy.port, weight: 2 },
      { port: echo.port, weight: 1 },
    ]),
  );
  t.after(() => proxy.close());
  const r = await httpRequest({ port: proxy.port, method: 'POST', body: Buffer.alloc(100 * 1024, 1) });
  assert.equal(r.status, 503);
  assert.equal(r.headers['x-trellis-attempts'], '1');
  await sleep(50);
  assert.equal(echo.requests, 0);
  assert.equal(proxy.retries(), 0);
});
