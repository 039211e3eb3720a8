import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openStore } from '../store/index.ts';
import { API_TOKEN_FILES, API_TOKENS_PREFIX, ApiAuth, ensureApiTokens } from './api-auth.ts';
import { api, defer, httpRequest, startTestControlPlane, tempDir } from './testing.ts';

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8').trim();

test('first start writes an admin and a reader token, mode 0600, and stores only their sha256', async (t) => {
  const dir = tempDir(t);
  const store = await openStore({ dir });
  defer(t, () => store.close());
  const report = await ensureApiTokens(store, dir);
  assert.deepEqual(report.created, ['admin', 'reader']);
  assert.deepEqual(report.unknownLocally, []);

  const admin = read(dir, API_TOKEN_FILES.admin);
  const reader = read(dir, API_TOKEN_FILES.reader);
  assert.match(admin, /^trellis-admin\.[A-Za-z0-9_-]{43}$/);
  assert.match(reader, /^trellis-reader\.[A-Za-z0-9_-]{43}$/);
  for (const file of Object.values(API_TOKEN_FILES))
    assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, `${file} is 0600`);
  // No file was left aside from the writing.
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
  );

  const stored = JSON.stringify((await store.list(API_TOKENS_PREFIX)).entries);
  assert.ok(!stored.includes(admin.split('.')[1]!), 'the secret is not in the store');
  assert.ok(!stored.includes(reader.split('.')[1]!), 'the secret is not in the store');

  const auth = new ApiAuth(store);
  assert.equal(await auth.roleOf(admin), 'admin');
  assert.equal(await auth.roleOf(reader), 'reader');
  assert.equal(await auth.roleOf(`${admin}x`), undefined);
  assert.equal(await auth.roleOf('trellis-admin.nope'), undefined);
  assert.equal(await auth.roleOf(undefined), undefined);
  assert.equal(await auth.roleOf('x'.repeat(10_000)), undefined);
});

test('later starts reuse the tokens; a dir without the files is told it does not hold them', async (t) => {
  const dir = tempDir(t);
  const other = tempDir(t);
  const store = await openStore({ dir });
  defer(t, () => store.close());
  await ensureApiTokens(store, dir);
  const admin = read(dir, API_TOKEN_FILES.admin);

  const again = await ensureApiTokens(store, dir);
  assert.deepEqual(again, { ...again, created: [], unknownLocally: [] });
  assert.equal(read(dir, API_TOKEN_FILES.admin), admin, 'the file is left as it was');

  // A second replica (same store, its own dir) cannot learn the secrets: it says so, and writes nothing.
  const replica = await ensureApiTokens(store, other);
  assert.deepEqual(replica.created, []);
  assert.deepEqual(replica.unknownLocally, ['admin', 'reader']);
  assert.deepEqual(readdirSync(other), []);

  // A stale file (another store's token) is reported, not trusted.
  writeFileSync(join(other, API_TOKEN_FILES.admin), 'trellis-admin.stale\n', { mode: 0o600 });
  assert.deepEqual((await ensureApiTokens(store, other)).unknownLocally, ['admin', 'reader']);
});

test('two replicas starting at once on one store: one set of tokens, all in one dir', async (t) => {
  const dirs = [tempDir(t), tempDir(t), tempDir(t)];
  // The store in a dir of its own: its files must not count against a replica that lost the race.
  const store = await openStore({ dir: tempDir(t) });
  defer(t, () => store.close());
  const reports = await Promise.all(dirs.map((d) => ensureApiTokens(store, d)));
  const winners = reports.filter((r) => r.created.includes('admin'));
  assert.equal(winners.length, 1);
  const winner = dirs[reports.indexOf(winners[0]!)]!;
  const auth = new ApiAuth(store);
  assert.equal(await auth.roleOf(read(winner, API_TOKEN_FILES.admin)), 'admin');
  assert.equal(await auth.roleOf(read(winner, API_TOKEN_FILES.reader)), 'reader');
  for (const d of dirs.filter((x) => x !== winner)) assert.deepEqual(readdirSync(d), []);
});

test('a restarted control plane accepts the same admin token', async (t) => {
  const dir = tempDir(t);
  const first = await startTestControlPlane(t, { dir });
  const token = first.adminToken;
  assert.ok(token !== undefined);
  await first.close();
  const second = await startTestControlPlane(t, { dir });
  assert.equal(second.adminToken, token);
  const res = await api(second.url, 'GET', '/api/v1/proxies', undefined, { token });
  assert.equal(res.status, 200);
});

test('API: no token 401 (saying where the token is), wrong token 401, reader reads but may not write', async (t) => {
  const cp = await startTestControlPlane(t);
  const none = await httpRequest(`${cp.url}/api/v1/resources/service`, { token: null });
  assert.equal(none.status, 401);
  assert.match(none.headers['www-authenticate'] ?? '', /^Bearer/);
  const noneBody = JSON.parse(none.text) as { error: { code: string; message: string } };
  assert.equal(noneBody.error.code, 'TRELLIS_UNAUTHENTICATED');
  assert.match(noneBody.error.message, /--token.*TRELLIS_TOKEN.*\.trellis\/admin-token/);

  const wrong = await api<{ error: { code: string; message: string } }>(
    cp.url,
    'GET',
    '/api/v1/proxies',
    undefined,
    { token: 'trellis-admin.not-this-one' },
  );
  assert.equal(wrong.status, 401);
  assert.match(wrong.body.error.message, /not valid/);
  // Not a bearer token at all.
  const basic = await httpRequest(`${cp.url}/api/v1/proxies`, { headers: { authorization: 'Basic eDp5' } });
  assert.equal(basic.status, 401);
  // Unknown paths do not tell a caller without a token what exists.
  assert.equal((await httpRequest(`${cp.url}/api/v1/nope`, { token: null })).status, 401);
  assert.equal((await httpRequest(`${cp.url}/api/v1/nope`)).status, 404);

  const reader = cp.readerToken;
  assert.ok(reader !== undefined);
  for (const path of ['/api/v1/resources/service', '/api/v1/proxies', '/api/v1/history'])
    assert.equal((await api(cp.url, 'GET', path, undefined, { token: reader })).status, 200, path);
  const write = await api<{ error: { code: string } }>(
    cp.url,
    'POST',
    '/api/v1/apply?file=x.yaml',
    'apiVersion: v1\nkind: Service\nmetadata: { name: a }\nspec: { ports: [{ port: 80 }] }\n',
    { token: reader },
  );
  assert.equal(write.status, 403);
  assert.equal(write.body.error.code, 'TRELLIS_FORBIDDEN');
  const tokens = await api<{ error: { code: string } }>(cp.url, 'GET', '/api/v1/tokens', undefined, {
    token: reader,
  });
  assert.equal(tokens.status, 403, 'join tokens are admin-only, even to read');
  assert.equal((await api(cp.url, 'GET', '/api/v1/resources/service/default/a')).status, 404);
});

test('health is open but answers only its status without a token', async (t) => {
  const cp = await startTestControlPlane(t);
  const open = await api<Record<string, unknown>>(cp.url, 'GET', '/api/v1/health', undefined, {
    token: null,
  });
  assert.equal(open.status, 200);
  assert.deepEqual(open.body, { status: 'ok' });
  const wrong = await api<Record<string, unknown>>(cp.url, 'GET', '/api/v1/health', undefined, {
    token: 'trellis-reader.wrong',
  });
  assert.deepEqual(wrong.body, { status: 'ok' });
  const full = await api<Record<string, unknown>>(cp.url, 'GET', '/api/v1/health', undefined, {
    token: cp.readerToken ?? null,
  });
  assert.equal(full.body.store, 'sqlite');
  assert.equal(typeof full.body.revision, 'number');
  // The dashboard shows admin actions only to an admin token.
  assert.equal(full.body.role, 'reader');
  const admin = await api<Record<string, unknown>>(cp.url, 'GET', '/api/v1/health');
  assert.equal(admin.body.role, 'admin');
});

test('auth: false serves the API without tokens (for tests of other things)', async (t) => {
  const cp = await startTestControlPlane(t, { auth: false });
  assert.equal(cp.adminToken, undefined);
  assert.equal((await api(cp.url, 'GET', '/api/v1/proxies', undefined, { token: null })).status, 200);
  assert.equal(readdirSync(cp.dir).includes(API_TOKEN_FILES.admin), false);
});
