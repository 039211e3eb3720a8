import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityError } from './errors.ts';
import { JOIN_TOKEN_PREFIX, JoinTokens } from './join-tokens.ts';
import { tempStore } from './testing.ts';

function code(c: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof IdentityError, String(err));
    assert.equal(err.code, c, err.message);
    return true;
  };
}

test('a token verifies as the service account it was made for, and only that one', async (t) => {
  const store = await tempStore(t);
  const tokens = new JoinTokens(store);
  const a = await tokens.create({ namespace: 'shop', serviceAccount: 'cart', description: 'host-1' });
  const b = await tokens.create({ namespace: 'shop', serviceAccount: 'payments' });
  assert.match(a.token, /^trellis-join\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  assert.equal(a.record.revoked, false);
  assert.equal(a.record.expiresAt, undefined);

  const va = await tokens.verify(a.token);
  assert.deepEqual(
    { ns: va.namespace, sa: va.serviceAccount, id: va.id, d: va.description },
    { ns: 'shop', sa: 'cart', id: a.record.id, d: 'host-1' },
  );
  assert.equal((await tokens.verify(b.token)).serviceAccount, 'payments');

  // Only the hash is stored: the secret appears nowhere in the store.
  const secret = a.token.split('.')[2] as string;
  const stored = JSON.stringify(await store.get(JOIN_TOKEN_PREFIX + a.record.id));
  assert.ok(!stored.includes(secret));
  const listed = await tokens.list();
  assert.deepEqual(listed.map((r) => r.id).sort(), [a.record.id, b.record.id].sort());
  assert.ok(listed.every((r) => !('secretHash' in r)));

  // A's id with B's secret, or a secret changed by one character: refused, and never as B.
  const bSecret = b.token.split('.')[2] as string;
  await assert.rejects(
    tokens.verify(`trellis-join.${a.record.id}.${bSecret}`),
    code('TRELLIS_TOKEN_INVALID'),
  );
  const last = secret.endsWith('A') ? 'B' : 'A';
  await assert.rejects(tokens.verify(a.token.slice(0, -1) + last), code('TRELLIS_TOKEN_INVALID'));
  await assert.rejects(
    tokens.verify(`trellis-join.0000000000000000.${secret}`),
    code('TRELLIS_TOKEN_INVALID'),
  );
  for (const junk of ['', 'trellis-join', a.token.replace('trellis-join', 'other'), `${a.token}x`])
    await assert.rejects(tokens.verify(junk), code('TRELLIS_TOKEN_INVALID'));
});

test('a revoked token is refused; the others keep working', async (t) => {
  const store = await tempStore(t);
  const tokens = new JoinTokens(store);
  const a = await tokens.create({ namespace: 'default', serviceAccount: 'reviews' });
  const b = await tokens.create({ namespace: 'default', serviceAccount: 'reviews' });
  assert.equal(await tokens.revoke(a.record.id), true);
  assert.equal(await tokens.revoke(a.record.id), true, 'revoking twice is fine');
  assert.equal(await tokens.revoke('ffffffffffffffff'), false);
  await assert.rejects(tokens.verify(a.token), code('TRELLIS_TOKEN_REVOKED'));
  // Revocation is only told to the holder of the secret.
  await assert.rejects(tokens.verify(a.token.slice(0, -2) + 'zz'), code('TRELLIS_TOKEN_INVALID'));
  assert.equal((await tokens.verify(b.token)).id, b.record.id);
  // Another replica (another JoinTokens on the same store) sees the revocation.
  await assert.rejects(new JoinTokens(store).verify(a.token), code('TRELLIS_TOKEN_REVOKED'));
  const listed = await tokens.list();
  assert.equal(listed.find((r) => r.id === a.record.id)?.revoked, true);
});

test('a token expires after its TTL', async (t) => {
  const store = await tempStore(t);
  let now = Date.parse('2030-01-01T00:00:00Z');
  const tokens = new JoinTokens(store, { now: () => now });
  const { token, record } = await tokens.create({
    namespace: 'default',
    serviceAccount: 'reviews',
    ttlMs: 60_000,
  });
  assert.equal(record.expiresAt, '2030-01-01T00:01:00.000Z');
  now += 59_999;
  assert.equal((await tokens.verify(token)).id, record.id);
  now += 1;
  await assert.rejects(tokens.verify(token), code('TRELLIS_TOKEN_EXPIRED'));
});

test('tokens are only made for valid service accounts and TTLs', async (t) => {
  const tokens = new JoinTokens(await tempStore(t));
  await assert.rejects(
    tokens.create({ namespace: 'a/b', serviceAccount: 'x' }),
    code('TRELLIS_TOKEN_REQUEST_INVALID'),
  );
  await assert.rejects(
    tokens.create({ namespace: 'a', serviceAccount: '' }),
    code('TRELLIS_TOKEN_REQUEST_INVALID'),
  );
  await assert.rejects(
    tokens.create({ namespace: 'a', serviceAccount: 'b', ttlMs: 0 }),
    code('TRELLIS_TOKEN_REQUEST_INVALID'),
  );
  assert.deepEqual(await tokens.list(), []);
});
