import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import { DashboardFiles } from './dashboard-static.ts';

async function serve(t: TestContext, dir: string): Promise<string> {
  const files = new DashboardFiles(dir);
  const server = http.createServer((req, res) => {
    void files.handle(req, res).then((handled) => {
      if (!handled) res.writeHead(418).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function builtDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'trellis-dash-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>Trellis</title>');
  await writeFile(
    path.join(dir, 'assets', 'index-abc.js'),
    `console.log(${JSON.stringify('x'.repeat(4000))});`,
  );
  return dir;
}

test('serves the built page and its hashed assets with the right types, caching and CSP', async (t) => {
  const url = await serve(t, await builtDir(t));
  const root = await fetch(`${url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/dashboard/');
  const page = await fetch(`${url}/dashboard/`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
  assert.match(await page.text(), /<title>Trellis<\/title>/);
  const js = await fetch(`${url}/dashboard/assets/index-abc.js`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(js.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(await js.text(), /^console\.log/);
});

test('compresses large files for clients that accept gzip', async (t) => {
  const url = await serve(t, await builtDir(t));
  const body = await new Promise<{ encoding: string | undefined; data: Buffer }>((resolve, reject) => {
    http
      .get(`${url}/dashboard/assets/index-abc.js`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ encoding: res.headers['content-encoding'], data: Buffer.concat(chunks) }),
        );
      })
      .on('error', reject);
  });
  assert.equal(body.encoding, 'gzip');
  assert.match(gunzipSync(body.data).toString(), /^console\.log/);
  assert.ok(body.data.length < 200);
});

test('nothing outside the build is reachable, and only GET and HEAD are answered', async (t) => {
  const dir = await builtDir(t);
  // A file beside the build, not in it: what a path that climbs out would reach.
  const secretFile = path.join(path.dirname(dir), `${path.basename(dir)}-secret`);
  await writeFile(secretFile, 'token');
  t.after(() => rm(secretFile, { force: true }));
  const url = await serve(t, dir);
  // Sent as written (fetch would resolve the dots before sending).
  const raw = (p: string): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      http
        .get(`${url}${p}`, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        })
        .on('error', reject);
    });
  const secret = `${path.basename(dir)}-secret`;
  for (const p of [
    `/dashboard/../${secret}`,
    `/dashboard/%2e%2e/${secret}`,
    `/dashboard/..%2f${secret}`,
    '/dashboard/assets/',
    '/dashboard/nope.js',
  ]) {
    const res = await raw(p);
    // `/dashboard/../x` is `/x` once the URL is parsed: not the dashboard's, left to the caller (418).
    assert.ok(res.status === 404 || res.status === 418, `${p}: ${res.status}`);
    assert.doesNotMatch(res.text, /token/);
  }
  assert.equal((await fetch(`${url}/dashboard/`, { method: 'POST' })).status, 405);
  const head = await fetch(`${url}/dashboard/`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  assert.equal((await fetch(`${url}/other`)).status, 418, 'other paths are left to the caller');
});

test('without a build it says how to make one, and serves it once it exists', async (t) => {
  const dir = path.join(await builtDir(t), 'later');
  const url = await serve(t, dir);
  const res = await fetch(`${url}/dashboard/`);
  assert.equal(res.status, 503);
  assert.match(await res.text(), /TRELLIS_DASHBOARD_NOT_BUILT.*npm run build/);
  await mkdir(dir);
  await writeFile(path.join(dir, 'index.html'), '<title>now</title>');
  assert.equal((await fetch(`${url}/dashboard/`)).status, 200);
});

test('a rebuild is served from the next page load on', async (t) => {
  const dir = await builtDir(t);
  const url = await serve(t, dir);
  assert.match(await (await fetch(`${url}/dashboard/`)).text(), /Trellis/);
  await rm(path.join(dir, 'assets'), { recursive: true });
  await mkdir(path.join(dir, 'assets'));
  await writeFile(path.join(dir, 'assets', 'index-new.js'), 'new();');
  await writeFile(path.join(dir, 'index.html'), '<title>rebuilt</title>');
  const future = new Date(Date.now() + 5000);
  await utimes(path.join(dir, 'index.html'), future, future);
  assert.match(await (await fetch(`${url}/dashboard/`)).text(), /rebuilt/);
  assert.equal(await (await fetch(`${url}/dashboard/assets/index-new.js`)).text(), 'new();');
  assert.equal((await fetch(`${url}/dashboard/assets/index-abc.js`)).status, 404);
});
