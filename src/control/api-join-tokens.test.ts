import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JoinTokenRecord } from '../identity/join-tokens.ts';
import { JoinTokens } from '../identity/join-tokens.ts';
import { api, startTestControlPlane } from './testing.ts';

interface Created {
  token: string;
  record: JoinTokenRecord;
}
interface ErrorBody {
  error: { code: string; message: string };
}

const create = (base: string, body: unknown, token?: string | null) =>
  api<Created & ErrorBody>(base, 'POST', '/api/v1/tokens', JSON.stringify(body), {
    contentType: 'application/json',
    ...(token !== undefined ? { token } : {}),
  });

test('POST /api/v1/tokens makes a join token the control plane then verifies; GET lists records only', async (t) => {
  const cp = await startTestControlPlane(t);
  const res = await create(cp.url, {
    namespace: 'shop',
    serviceAccount: 'reviews',
    ttl: '24h',
    description: 'ci runner',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const { token, record } = res.body;
  assert.match(token, /^trellis-join\./);
  assert.equal(record.namespace, 'shop');
  assert.equal(record.serviceAccount, 'reviews');
  assert.equal(record.description, 'ci runner');
  assert.equal(record.revoked, false);
  const lifetime = Date.parse(record.expiresAt ?? '') - Date.parse(record.createdAt);
  assert.equal(lifetime, 24 * 3_600_000);
  assert.deepEqual(await new JoinTokens(cp.store).verify(token), record);

  const ms = await create(cp.url, { namespace: 'default', serviceAccount: 'web', ttl: 60_000 });
  assert.equal(ms.status, 200);
  assert.equal(Date.parse(ms.body.record.expiresAt ?? '') - Date.parse(ms.body.record.createdAt), 60_000);
  const forever = await create(cp.url, { namespace: 'default', serviceAccount: 'web' });
  assert.equal(forever.body.record.expiresAt, undefined);

  const listed = await api<{ items: JoinTokenRecord[] }>(cp.url, 'GET', '/api/v1/tokens');
  assert.equal(listed.status, 200);
  assert.deepEqual(
    listed.body.items.map((r) => r.id).sort(),
    [record.id, ms.body.record.id, forever.body.record.id].sort(),
  );
  const secret = token.split('.').at(-1) ?? '';
  assert.ok(!JSON.stringify(listed.body).includes(secret), 'no secret in the listing');
  assert.ok(!JSON.stringify(listed.body).includes('secretHash'), 'no hash in the listing');
});

test('DELETE /api/v1/tokens/ID revokes; an unknown ID is 404', async (t) => {
  const cp = await startTestControlPlane(t);
  const { token, record } = (await create(cp.url, { namespace: 'default', serviceAccount: 'web' })).body;
  const del = await api<{ id: string; revoked: boolean }>(cp.url, 'DELETE', `/api/v1/tokens/${record.id}`);
  assert.equal(del.status, 200);
  assert.deepEqual(del.body, { id: record.id, revoked: true });
  await assert.rejects(new JoinTokens(cp.store).verify(token), { code: 'TRELLIS_TOKEN_REVOKED' });
  const listed = await api<{ items: JoinTokenRecord[] }>(cp.url, 'GET', '/api/v1/tokens');
  assert.equal(listed.body.items.find((r) => r.id === record.id)?.revoked, true);

  const missing = await api<ErrorBody>(cp.url, 'DELETE', '/api/v1/tokens/0123456789abcdef');
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, 'TRELLIS_NOT_FOUND');
});

test('join-token requests: bad bodies are 400 with what is wrong; only the admin token may make one', async (t) => {
  const cp = await startTestControlPlane(t);
  const bad: [unknown, RegExp][] = [
    [{ serviceAccount: 'web' }, /namespace/],
    [{ namespace: 'default' }, /serviceAccount/],
    [{ namespace: 'default', serviceAccount: 'web', ttl: 'soon' }, /ttl/],
    [{ namespace: 'default', serviceAccount: 'web', ttl: -5 }, /ttl/],
    [{ namespace: 'Not Valid!', serviceAccount: 'web' }, /namespace|invalid/i],
  ];
  for (const [body, why] of bad) {
    const res = await create(cp.url, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.message, why);
  }
  const notJson = await api<ErrorBody>(cp.url, 'POST', '/api/v1/tokens', 'namespace: default');
  assert.equal(notJson.status, 400);
  assert.match(notJson.body.error.message, /JSON/);

  const ok = { namespace: 'default', serviceAccount: 'web' };
  assert.equal((await create(cp.url, ok, null)).status, 401);
  const asReader = await create(cp.url, ok, cp.readerToken ?? null);
  assert.equal(asReader.status, 403);
  assert.equal(asReader.body.error.code, 'TRELLIS_FORBIDDEN');
  assert.equal((await api(cp.url, 'DELETE', '/api/v1/tokens/x', undefined, { token: null })).status, 401);
  // Nothing was made by the refused requests.
  assert.deepEqual((await api<{ items: unknown[] }>(cp.url, 'GET', '/api/v1/tokens')).body.items, []);
});
