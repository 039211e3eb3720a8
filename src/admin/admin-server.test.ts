import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { ProxyStats } from '../metrics/proxy-stats.ts';
import { startAdminServer, type AdminState } from './admin-server.ts';

const registry = new Registry();
const stats = new ProxyStats(registry, { defaultMetrics: false });
const s = stats.requestStats({ direction: 'inbound', listener: 'in', route: 'r', cluster: 'local' });
s.requests++;
stats.recordResponse(s, 200, 2);

let ready = false;
let failMetrics = false;
const state: AdminState = {
  ready: () => ready,
  configDump: () => ({ version: 'v7', config: { listeners: [{ name: 'in', port: 15006 }] } }),
  metrics: () => (failMetrics ? Promise.reject(new Error('boom')) : registry.metrics()),
  metricsContentType: registry.contentType,
};
const admin = await startAdminServer('127.0.0.1', 0, state);
after(() => admin.close());

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(method: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: admin.port, method, path, agent: false, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('/live answers ok', async () => {
  const r = await request('GET', '/live');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'ok\n');
});

test('/ready follows state.ready()', async () => {
  ready = false;
  assert.equal((await request('GET', '/ready')).status, 503);
  ready = true;
  assert.equal((await request('GET', '/ready')).status, 200);
  ready = false;
  assert.equal((await request('GET', '/ready?verbose=1')).status, 503);
});

test('/metrics serves Prometheus text with its content type', async () => {
  const r = await request('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(
    r.body,
    /^trellis_requests_total\{direction="inbound",listener="in",route="r",cluster="local"\} 1$/m,
  );
});

test('/metrics failure is a 500, and the server keeps serving', async () => {
  failMetrics = true;
  const r = await request('GET', '/metrics');
  failMetrics = false;
  assert.equal(r.status, 500);
  assert.match(r.body, /boom/);
  assert.equal((await request('GET', '/live')).status, 200);
});

test('/config_dump is indented JSON of {version, config}', async () => {
  const r = await request('GET', '/config_dump');
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assert.deepEqual(JSON.parse(r.body), state.configDump());
  assert.match(r.body, /\n {2}"version": "v7"/);
});

test('unknown paths 404, other methods 405, HEAD has no body', async () => {
  assert.equal((await request('GET', '/nope')).status, 404);
  assert.equal((await request('GET', '/metrics/extra')).status, 404);
  const post = await request('POST', '/ready');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
  assert.equal((await request('DELETE', '/config_dump')).status, 405);
  const head = await request('HEAD', '/live');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
});

test('curl sees the same endpoints', async () => {
  // Async: the server answering lives in this process.
  const url = `http://127.0.0.1:${admin.port}/metrics`;
  const r = await promisify(execFile)('curl', ['-s', '-i', '--max-time', '10', url], { timeout: 15_000 });
  assert.match(r.stdout, /^HTTP\/1\.1 200/);
  assert.match(r.stdout, /content-type: text\/plain; version=0\.0\.4/i);
  assert.match(r.stdout, /trellis_request_duration_ms_count\{[^}]*\} 1/);
});

test('a port already taken fails with TRELLIS_ADMIN_LISTEN_FAILED', async () => {
  await assert.rejects(startAdminServer('127.0.0.1', admin.port, state), {
    code: 'TRELLIS_ADMIN_LISTEN_FAILED',
  });
});
