// The live events stream over a real control plane fed real stats: the first event's shape, a new
// event soon after a config change, the keep-alive comment, errors (bad interval, no token), and the
// end of the stream when the control plane closes or the client leaves (nothing left listening).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { JoinTokens } from '../identity/join-tokens.ts';
import type { ApiContext } from './api.ts';
import { streamEvents, type MeshEvent } from './api-events.ts';
import type { MeshView } from './mesh-view.ts';
import type { EdgesResponse } from './stats/api-stats.ts';
import { reviewsReportingControlPlane } from './stats/testing.ts';
import { api, defer, serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './testing.ts';

interface SseMessage {
  event?: string;
  data?: string;
  comment?: string;
}

/** Reads an SSE response: messages as they come, and whether the stream ended (cleanly). */
class SseReader {
  readonly messages: SseMessage[] = [];
  ended = false;
  error: unknown;
  readonly done: Promise<void>;

  constructor(body: ReadableStream<Uint8Array>) {
    this.done = this.read(body);
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of body) {
        buffered += decoder.decode(chunk, { stream: true });
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const msg: SseMessage = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) msg.comment = line.slice(1).trim();
            else if (line.startsWith('event: ')) msg.event = line.slice(7);
            else if (line.startsWith('data: ')) msg.data = (msg.data ?? '') + line.slice(6);
          }
          this.messages.push(msg);
        }
      }
      this.ended = true;
    } catch (err) {
      this.error = err;
    }
  }

  events(): MeshEvent[] {
    return this.messages
      .filter((m) => m.event === 'mesh' && m.data !== undefined)
      .map((m) => JSON.parse(m.data!) as MeshEvent);
  }
}

async function openEvents(
  t: TestContext,
  url: string,
  token: string | undefined,
): Promise<{ res: Response; reader: SseReader; abort: () => void }> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: token !== undefined ? { authorization: `Bearer ${token}` } : {},
    signal: abort.signal,
  });
  assert.ok(res.body !== null);
  const reader = new SseReader(res.body);
  defer(t, () => abort.abort());
  return { res, reader, abort: () => abort.abort() };
}

async function fedControlPlane(t: TestContext): Promise<TestControlPlane> {
  const { cp } = await reviewsReportingControlPlane(t);
  await waitFor('the report to be filed', async () => {
    const res = await api<EdgesResponse>(cp.url, 'GET', '/api/v1/stats/edges');
    return res.body.items.length > 0;
  });
  return cp;
}

test('events: the mesh at once, again soon after a config change; closing the control plane ends it', async (t) => {
  const cp = await fedControlPlane(t);
  const { res, reader } = await openEvents(t, `${cp.url}/api/v1/events?interval=60s`, cp.readerToken);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.equal(res.headers.get('x-accel-buffering'), 'no');

  const [first] = await waitFor('the first event', () => reader.events().length > 0 && reader.events());
  assert.ok(first !== undefined);
  assert.equal(first.revision, cp.view.revision);
  assert.equal(first.window, '1m');
  assert.equal(first.proxies, 2);
  assert.ok(!Number.isNaN(Date.parse(first.timestamp)));
  const services = Object.fromEntries(first.services.map((s) => [s.name, s]));
  assert.deepEqual(Object.keys(services), ['reviews', 'web']);
  assert.equal(services.reviews?.stats?.successCount, 3);
  assert.equal(services.reviews?.stats?.successRate, 0.75);
  assert.deepEqual(services.reviews?.meshed, { connected: 1, total: 1 });
  assert.deepEqual(
    first.deployments.map((d) => [d.name, d.stats?.failureCount ?? null]),
    [
      ['reviews-v1', 1],
      ['web-v1', null],
    ],
  );
  assert.deepEqual(
    first.edges.map((e) => [e.src.name, e.dst.name, e.side, e.stats.successCount]),
    [['web', 'reviews', 'server', 3]],
  );

  const applied = await api(cp.url, 'POST', '/api/v1/apply?file=ratings.yaml', serviceYaml('ratings'));
  assert.equal(applied.status, 200);
  const next = await waitFor(
    'an event with the new revision',
    () => reader.events().find((e) => e.revision > first.revision),
    3000,
  );
  assert.equal(next.revision, cp.view.revision);
  assert.ok(next.services.some((s) => s.name === 'ratings'));

  await cp.close();
  await waitFor('the stream to end', () => reader.ended || reader.error !== undefined);
  assert.equal(reader.error, undefined, 'ended cleanly, not cut');
});

test('events: a bad interval is 400, no token is 401', async (t) => {
  const cp = await startTestControlPlane(t);
  for (const interval of ['500ms', '2m', 'soon']) {
    const res = await api<{ error: { code: string } }>(cp.url, 'GET', `/api/v1/events?interval=${interval}`);
    assert.deepEqual([res.status, res.body.error.code], [400, 'TRELLIS_BAD_REQUEST'], interval);
  }
  const res = await api<{ error: { code: string } }>(cp.url, 'GET', '/api/v1/events', undefined, {
    token: null,
  });
  assert.deepEqual([res.status, res.body.error.code], [401, 'TRELLIS_UNAUTHENTICATED']);
});

test('events: keep-alive comments while idle; a client that leaves stops its stream', async (t) => {
  const cp = await startTestControlPlane(t);
  // The control plane's view, counting who listens to it.
  let listening = 0;
  const view = Object.create(cp.view) as MeshView;
  view.onChange = (listener) => {
    listening++;
    const off = cp.view.onChange(listener);
    return () => {
      listening--;
      return off();
    };
  };
  const ctx: ApiContext = {
    store: cp.store,
    view,
    push: cp.push,
    auth: undefined,
    joinTokens: new JoinTokens(cp.store),
    identity: undefined,
  };
  const server = http.createServer((_req, res) =>
    streamEvents(ctx, res, { intervalMs: 60_000, keepAliveMs: 50, changeDelayMs: 10 }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  defer(t, () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  const { reader, abort } = await openEvents(t, `http://127.0.0.1:${port}/`, undefined);
  await waitFor(
    'two keep-alives',
    () => reader.messages.filter((m) => m.comment === 'keep-alive').length >= 2,
  );
  assert.equal(reader.events().length, 1, 'one event: the interval has not come round');
  assert.equal(listening, 1);
  abort();
  await waitFor('the stream to stop listening', () => listening === 0);
});
