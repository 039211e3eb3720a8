// Mirroring through a real proxy: the mirror receives the `-shadow` copy with the same method,
// path and body, and the client's response is the main upstream's whatever the mirror does —
// hang (cancelled after the grace period), answer 500, reset, or never read the body (aborted
// once it is a bounded buffer behind, while the client's upload goes through in full).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MIRROR_BUFFER_LIMIT } from './body-tee.ts';
import { MIRROR_GRACE_MS, shadowAuthority } from './mirror.ts';
import {
  request,
  startPolicyProxy,
  startRawUpstream,
  startRecordingUpstream,
  waitFor,
} from './test-support.ts';
import type { RecordingUpstream, RunningProxy } from './test-support.ts';

describe('shadow authority', () => {
  it('suffixes the host, keeping a port after it', () => {
    assert.equal(shadowAuthority('reviews'), 'reviews-shadow');
    assert.equal(shadowAuthority('reviews.default:9080'), 'reviews.default-shadow:9080');
    assert.equal(shadowAuthority('[::1]:80'), '[::1]-shadow:80');
  });
});

describe('mirroring through the proxy', () => {
  let app: RecordingUpstream;
  let shadow: RecordingUpstream;
  let hanging: RecordingUpstream;
  let failing: RecordingUpstream;
  let resetting: Awaited<ReturnType<typeof startRawUpstream>>;
  let stuck: Awaited<ReturnType<typeof startRawUpstream>>;
  let proxy: RunningProxy;

  before(async () => {
    app = await startRecordingUpstream('app', (seen, res) =>
      res.end(`app ${seen.method} ${seen.body.length}`),
    );
    shadow = await startRecordingUpstream('shadow');
    hanging = await startRecordingUpstream('hanging', () => {});
    failing = await startRecordingUpstream('failing', (_s, res) => {
      res.statusCode = 500;
      res.end('mirror broke');
    });
    resetting = await startRawUpstream((s) => s.once('data', () => s.resetAndDestroy()));
    // Accepts and never reads: its receive window fills and the proxy's writes stall.
    stuck = await startRawUpstream((s) => s.pause());
    const route = (name: string, mirror: string, percent = 100) => ({
      name,
      match: { path: { prefix: `/${name}` } },
      backends: [{ cluster: 'app' }],
      mirrors: [{ cluster: mirror, percent }],
    });
    proxy = await startPolicyProxy(
      [
        route('copy', 'shadow'),
        route('hang', 'hanging'),
        route('fail', 'failing'),
        route('reset', 'resetting'),
        route('stuck', 'stuck'),
        route('half', 'shadow', 50),
      ],
      {
        app: { ports: [app.port] },
        shadow: { ports: [shadow.port] },
        hanging: { ports: [hanging.port] },
        failing: { ports: [failing.port] },
        resetting: { ports: [resetting.port] },
        stuck: { ports: [stuck.port] },
      },
    );
  });
  after(async () => {
    await proxy?.close();
    for (const u of [app, shadow, hanging, failing, resetting, stuck]) await u?.close();
  });

  it('sends the mirror a -shadow copy with the same method, path and body', async () => {
    const body = Buffer.alloc(300_000, 'mirror-me ');
    const r = await request({
      port: proxy.port,
      method: 'PUT',
      path: '/copy/items/9?v=1',
      headers: { host: 'svc.test:8080', 'x-trace': 't1' },
      body,
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, `app PUT ${body.length}`);
    assert.ok(await waitFor(() => shadow.seen.some((s) => s.complete)), 'the mirror got the request');
    const copy = shadow.seen.find((s) => s.url === '/copy/items/9?v=1')!;
    assert.equal(copy.method, 'PUT');
    assert.equal(copy.headers['host'], 'svc.test-shadow:8080');
    assert.equal(copy.headers['x-trace'], 't1');
    assert.ok(copy.body.equals(body), 'the same body');
    assert.equal(
      app.seen[app.seen.length - 1]!.headers['host'],
      'svc.test:8080',
      'the main request is unmarked',
    );
    assert.equal(proxy.stats.policy.mirrored.series({ route: 'copy', cluster: 'shadow' }).value, 1);
  });

  it('answers the client while the mirror hangs, and cancels the mirror after the grace period', async () => {
    const r = await request({ port: proxy.port, method: 'POST', path: '/hang', body: 'x' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app POST 1');
    assert.ok(await waitFor(() => hanging.seen.length === 1), 'the mirror got the request');
    assert.equal(hanging.abandoned(), 0, 'the mirror is still waiting when the client has its answer');
    assert.ok(await waitFor(() => hanging.abandoned() === 1, MIRROR_GRACE_MS + 3000), 'mirror cancelled');
  });

  it('keeps the client unaffected by a mirror that answers 500', async () => {
    const r = await request({ port: proxy.port, path: '/fail' });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app GET 0');
    assert.ok(await waitFor(() => failing.seen.length === 1));
  });

  it('keeps the client unaffected by a mirror that resets', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await request({ port: proxy.port, method: 'POST', path: '/reset', body: 'payload' });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'app POST 7');
    }
    assert.ok(await waitFor(() => resetting.connections.length >= 1));
  });

  it('aborts a mirror that falls behind, without slowing or failing the upload', async () => {
    // Far more than the bounded buffer plus what loopback socket buffers can hold.
    const body = Buffer.alloc(MIRROR_BUFFER_LIMIT * 24, 'z');
    const r = await request({ port: proxy.port, method: 'POST', path: '/stuck', body });
    assert.equal(r.status, 200);
    assert.equal(r.body, `app POST ${body.length}`);
    assert.equal(app.seen[app.seen.length - 1]!.body.length, body.length);
    // Aborted during the upload (the main upstream answers only once it has the whole body), not
    // by the grace period that starts after the response.
    const conns = proxy.stats.clusterConnections('stuck');
    assert.equal(conns.total, 1);
    assert.ok(await waitFor(() => conns.active === 0, MIRROR_GRACE_MS / 3), 'the stuck mirror was aborted');
  });

  it('mirrors about `percent` of requests', async () => {
    const before = shadow.seen.length;
    for (let i = 0; i < 40; i++)
      assert.equal((await request({ port: proxy.port, path: '/half' })).status, 200);
    await waitFor(() => false, 200);
    const mirrored = shadow.seen.length - before;
    assert.ok(mirrored > 0 && mirrored < 40, `${mirrored} of 40 mirrored`);
    assert.equal(proxy.stats.policy.mirrored.series({ route: 'half', cluster: 'shadow' }).value, mirrored);
  });
});
