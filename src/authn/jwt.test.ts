// JWT request authentication with real keys: inline JWKS, a JWKS file, and a JWKS served over HTTP
// on loopback (fetched, cached, refetched after a key rotation). Failures carry Envoy's reasons.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import type { JwtRule } from '../model/security.ts';
import { JwtConfigError } from './errors.ts';
import { compileJwtRules, JwtFailure } from './jwt.ts';
import type { JwtOptions, JwtOutcome } from './jwt.ts';
import type { JwksServer, TestKey } from './testing.ts';
import * as t from './testing.ts';

const ISSUER = 'https://issuer.example.com';
const bearer = (token: string): string[] => ['authorization', `Bearer ${token}`];

function rule(fields: Partial<JwtRule> = {}): JwtRule {
  return { issuer: ISSUER, forwardOriginalToken: false, ...fields };
}

describe('JWT authentication with an inline JWKS', () => {
  let rsa: TestKey;
  let ec: TestKey;
  let stranger: TestKey;
  before(async () => {
    [rsa, ec, stranger] = await Promise.all([
      t.testKey('rsa-1'),
      t.testKey('ec-1', 'ES256'),
      t.testKey('rsa-1'),
    ]);
  });
  const inline = (fields: Partial<JwtRule> = {}) =>
    rule({ jwks: JSON.stringify(t.jwks(rsa, ec)), ...fields });

  interface Case {
    name: string;
    rules?: () => JwtRule[];
    request: () => Promise<{ headers: string[]; path?: string }>;
    expect: Partial<JwtOutcome> & { kind: JwtOutcome['kind'] };
  }
  const cases: Case[] = [
    {
      name: 'a valid RS256 token gives the principal iss/sub, claims, audiences and presenter',
      request: async () => ({ headers: bearer(await t.sign(rsa, { aud: ['api', 'web'], azp: 'spa' })) }),
      expect: {
        kind: 'valid',
        principal: `${ISSUER}/alice`,
        audiences: ['api', 'web'],
        presenter: 'spa',
        removeHeaders: ['authorization'],
        removeParams: [],
        addHeaders: [],
      },
    },
    {
      name: 'a valid ES256 token',
      request: async () => ({ headers: bearer(await t.sign(ec)) }),
      expect: { kind: 'valid', principal: `${ISSUER}/alice` },
    },
    {
      name: 'no token: none',
      request: async () => ({ headers: ['x-other', '1'] }),
      expect: { kind: 'none' },
    },
    {
      name: 'another Authorization scheme: none',
      request: async () => ({ headers: ['authorization', 'Basic YTpi'] }),
      expect: { kind: 'none' },
    },
    {
      name: 'the Bearer scheme is case-insensitive',
      request: async () => ({ headers: ['authorization', `bearer ${await t.sign(rsa)}`] }),
      expect: { kind: 'valid' },
    },
    {
      name: 'the default access_token query parameter',
      request: async () => ({ headers: [], path: `/x?a=1&access_token=${await t.sign(rsa)}` }),
      expect: { kind: 'valid', removeHeaders: [], removeParams: ['access_token'] },
    },
    {
      name: 'an expired token',
      request: async () => ({ headers: bearer(await t.sign(rsa, { exp: t.nowSeconds() - 3600 })) }),
      expect: { kind: 'invalid', reason: JwtFailure.expired },
    },
    {
      name: 'a token expired within the 60 s clock skew is still valid',
      request: async () => ({ headers: bearer(await t.sign(rsa, { exp: t.nowSeconds() - 20 })) }),
      expect: { kind: 'valid' },
    },
    {
      name: 'a token not yet valid',
      request: async () => ({ headers: bearer(await t.sign(rsa, { nbf: t.nowSeconds() + 3600 })) }),
      expect: { kind: 'invalid', reason: JwtFailure.notYetValid },
    },
    {
      name: 'a token of an issuer no rule names',
      request: async () => ({ headers: bearer(await t.sign(rsa, { iss: 'https://evil.example.com' })) }),
      expect: { kind: 'invalid', reason: JwtFailure.unknownIssuer },
    },
    {
      name: 'a token without an issuer',
      request: async () => ({ headers: bearer(await t.sign(rsa, { iss: undefined })) }),
      expect: { kind: 'invalid', reason: JwtFailure.unknownIssuer },
    },
    {
      name: 'a token for another audience',
      rules: () => [inline({ audiences: ['api', 'web'] })],
      request: async () => ({ headers: bearer(await t.sign(rsa, { aud: 'billing' })) }),
      expect: { kind: 'invalid', reason: JwtFailure.audience },
    },
    {
      name: 'a token with one of the audiences',
      rules: () => [inline({ audiences: ['billing', 'api'] })],
      request: async () => ({ headers: bearer(await t.sign(rsa)) }),
      expect: { kind: 'valid' },
    },
    {
      name: 'a tampered payload',
      request: async () => ({
        headers: bearer(
          t.withPayload(await t.sign(rsa), { iss: ISSUER, sub: 'admin', exp: t.nowSeconds() + 60 }),
        ),
      }),
      expect: { kind: 'invalid', reason: JwtFailure.verification },
    },
    {
      name: 'a tampered signature',
      request: async () => ({ headers: bearer(t.withBadSignature(await t.sign(rsa))) }),
      expect: { kind: 'invalid', reason: JwtFailure.verification },
    },
    {
      name: 'alg none is refused',
      request: async () => ({
        headers: bearer(t.unsignedToken({ iss: ISSUER, sub: 'alice', exp: t.nowSeconds() + 60 })),
      }),
      expect: { kind: 'invalid', reason: JwtFailure.alg },
    },
    {
      name: 'HMAC is refused',
      request: async () => ({
        headers: bearer(
          await new SignJWT({ iss: ISSUER, sub: 'a' })
            .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
            .sign(new Uint8Array(32)),
        ),
      }),
      expect: { kind: 'invalid', reason: JwtFailure.alg },
    },
    {
      name: 'a key id the JWKS does not have',
      request: async () => ({ headers: bearer(await t.sign({ ...stranger, kid: 'rsa-9' })) }),
      expect: { kind: 'invalid', reason: JwtFailure.noKey },
    },
    {
      name: 'a known key id signed by another key',
      request: async () => ({ headers: bearer(await t.sign(stranger)) }),
      expect: { kind: 'invalid', reason: JwtFailure.verification },
    },
    {
      name: 'something that is not a JWT',
      request: async () => ({ headers: bearer('abc') }),
      expect: { kind: 'invalid', reason: JwtFailure.badFormat },
    },
    {
      name: 'a token in a custom header with a prefix',
      rules: () => [inline({ fromHeaders: [{ name: 'X-Jwt', prefix: 'Token ' }] })],
      request: async () => ({ headers: ['x-jwt', `Token ${await t.sign(rsa)}`] }),
      expect: { kind: 'valid', removeHeaders: ['x-jwt'] },
    },
    {
      name: 'a custom header without the prefix carries no token',
      rules: () => [inline({ fromHeaders: [{ name: 'x-jwt', prefix: 'Token ' }] })],
      request: async () => ({ headers: ['x-jwt', await t.sign(rsa)] }),
      expect: { kind: 'none' },
    },
    {
      name: 'custom locations replace the defaults',
      rules: () => [inline({ fromHeaders: [{ name: 'x-jwt' }] })],
      request: async () => ({ headers: bearer(await t.sign(rsa)) }),
      expect: { kind: 'none' },
    },
    {
      name: 'a token in a custom query parameter',
      rules: () => [inline({ fromParams: ['jwt'] })],
      request: async () => ({ headers: [], path: `/items?page=2&jwt=${await t.sign(rsa)}` }),
      expect: { kind: 'valid', removeParams: ['jwt'], removeHeaders: [] },
    },
    {
      name: 'forwardOriginalToken keeps the token on the request',
      rules: () => [inline({ forwardOriginalToken: true })],
      request: async () => ({ headers: bearer(await t.sign(rsa)) }),
      expect: { kind: 'valid', removeHeaders: [], removeParams: [] },
    },
    {
      name: 'a valid token next to an invalid one is refused (Envoy: every token must be valid)',
      request: async () => ({
        headers: bearer(await t.sign(rsa)),
        path: `/?access_token=${await t.sign(rsa, { exp: t.nowSeconds() - 3600 })}`,
      }),
      expect: { kind: 'invalid', reason: JwtFailure.expired },
    },
    {
      name: 'two valid tokens: the first gives the principal',
      request: async () => ({
        headers: bearer(await t.sign(rsa, { sub: 'first' })),
        path: `/?access_token=${await t.sign(ec, { sub: 'second' })}`,
      }),
      expect: {
        kind: 'valid',
        principal: `${ISSUER}/first`,
        removeHeaders: ['authorization'],
        removeParams: ['access_token'],
      },
    },
    {
      name: 'the token issuer picks its rule among several',
      rules: () => [rule({ issuer: 'https://a.example.com', jwks: JSON.stringify(t.jwks(ec)) }), inline()],
      request: async () => ({ headers: bearer(await t.sign(rsa)) }),
      expect: { kind: 'valid', principal: `${ISSUER}/alice` },
    },
    {
      name: "a token found where its issuer's rule does not look is refused",
      rules: () => [
        rule({ issuer: 'https://a.example.com', jwks: JSON.stringify(t.jwks(ec)) }),
        inline({ fromHeaders: [{ name: 'x-jwt' }] }),
      ],
      request: async () => ({ headers: bearer(await t.sign(rsa)) }),
      expect: { kind: 'invalid', reason: JwtFailure.unknownIssuer },
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const authn = compileJwtRules(c.rules?.() ?? [inline()]);
      try {
        const req = await c.request();
        const out = await authn.authenticate(req.headers, req.path ?? '/');
        for (const [k, v] of Object.entries(c.expect))
          assert.deepEqual(out[k as keyof JwtOutcome], v, `${k} of ${JSON.stringify(out)}`);
      } finally {
        authn.close();
      }
    });
  }

  it('writes the verified payload to outputPayloadToHeader as base64url JSON', async () => {
    const authn = compileJwtRules([inline({ outputPayloadToHeader: 'X-Jwt-Payload' })]);
    const token = await t.sign(rsa, { groups: ['dev'] });
    const out = await authn.authenticate(bearer(token), '/');
    assert.equal(out.kind, 'valid');
    if (out.kind !== 'valid') return;
    assert.equal(out.addHeaders[0], 'x-jwt-payload');
    assert.deepEqual(JSON.parse(Buffer.from(out.addHeaders[1] ?? '', 'base64url').toString()), out.claims);
    assert.deepEqual(out.claims.groups, ['dev']);
  });

  it('reads the JWKS from jwksFile', async (ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'trellis-jwks-'));
    ctx.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'jwks.json');
    await writeFile(file, JSON.stringify(t.jwks(ec)));
    const authn = compileJwtRules([rule({ jwksFile: file })]);
    assert.equal((await authn.authenticate(bearer(await t.sign(ec)), '/')).kind, 'valid');
    assert.deepEqual(await authn.authenticate(bearer(await t.sign(rsa)), '/'), {
      kind: 'invalid',
      reason: JwtFailure.noKey,
    });
  });

  it('refuses a JWKS that is not JSON, not a key set, or a file it cannot read', () => {
    for (const bad of [
      rule({ jwks: '{nope' }),
      rule({ jwks: '{"kty":"RSA"}' }),
      rule({ jwksFile: '/nonexistent/trellis/jwks.json' }),
    ]) {
      assert.throws(
        () => compileJwtRules([bad]),
        (err: unknown) => err instanceof JwtConfigError && err.code === 'TRELLIS_JWT_INVALID',
      );
    }
  });

  it('without rules is empty and finds nothing', async () => {
    const authn = compileJwtRules([]);
    assert.equal(authn.empty, true);
    assert.deepEqual(await authn.authenticate(bearer(await t.sign(rsa)), '/'), { kind: 'none' });
  });
});

describe('JWT authentication with a JWKS fetched over HTTP', () => {
  let key1: TestKey;
  let key2: TestKey;
  let server: JwksServer;
  before(async () => {
    [key1, key2] = await Promise.all([t.testKey('k1'), t.testKey('k2', 'ES256')]);
    server = await t.startJwksServer(t.jwks(key1));
  });
  after(() => server.close());
  const reset = (body: unknown) => {
    server.body = body;
    server.fetches = 0;
    server.status = 200;
    server.hang = false;
  };

  it('fetches the JWKS once and serves later tokens from its cache', async (ctx) => {
    reset(t.jwks(key1));
    const authn = compileJwtRules([rule({ jwksUri: server.url })]);
    ctx.after(() => authn.close());
    for (let i = 0; i < 3; i++)
      assert.equal((await authn.authenticate(bearer(await t.sign(key1)), '/')).kind, 'valid');
    assert.equal(server.fetches, 1);
  });

  it('fetches again when a token names a key id it has not seen (key rotation)', async (ctx) => {
    reset(t.jwks(key1));
    const authn = compileJwtRules([rule({ jwksUri: server.url })], { refetchCooldownMs: 0 });
    ctx.after(() => authn.close());
    assert.equal((await authn.authenticate(bearer(await t.sign(key1)), '/')).kind, 'valid');
    server.body = t.jwks(key2); // rotated: k1 retired, k2 published
    const out = await authn.authenticate(bearer(await t.sign(key2)), '/');
    assert.equal(out.kind, 'valid', JSON.stringify(out));
    assert.equal(server.fetches, 2);
    const unknown = await authn.authenticate(bearer(await t.sign({ ...key2, kid: 'k3' })), '/');
    assert.deepEqual(unknown, { kind: 'invalid', reason: JwtFailure.noKey });
    assert.equal(server.fetches, 3, 'an unknown kid is looked up once more');
  });

  it('does not refetch for unknown key ids within the cooldown', async (ctx) => {
    reset(t.jwks(key1));
    const authn = compileJwtRules([rule({ jwksUri: server.url })]);
    ctx.after(() => authn.close());
    assert.equal((await authn.authenticate(bearer(await t.sign(key1)), '/')).kind, 'valid');
    for (let i = 0; i < 3; i++) {
      const out = await authn.authenticate(bearer(await t.sign({ ...key2, kid: `junk-${i}` })), '/');
      assert.deepEqual(out, { kind: 'invalid', reason: JwtFailure.noKey });
    }
    assert.equal(server.fetches, 1, 'tokens with made-up kids cannot make the proxy hammer the issuer');
  });

  const fetchFailures: { name: string; prepare: () => Promise<string>; opts?: JwtOptions }[] = [
    {
      name: 'the JWKS endpoint answers 500',
      prepare: async () => {
        server.status = 500;
        return server.url;
      },
    },
    {
      name: 'the JWKS endpoint does not answer within fetchTimeoutMs',
      prepare: async () => {
        server.hang = true;
        return server.url;
      },
      opts: { fetchTimeoutMs: 100 },
    },
    {
      name: 'nothing listens at the JWKS URL',
      prepare: async () => {
        const closed = await t.startJwksServer(t.jwks(key1));
        await closed.close();
        return closed.url;
      },
    },
  ];
  for (const c of fetchFailures) {
    it(`fails tokens with "${JwtFailure.fetch}" when ${c.name}`, async (ctx) => {
      reset(t.jwks(key1));
      const authn = compileJwtRules([rule({ jwksUri: await c.prepare() })], c.opts);
      ctx.after(() => authn.close());
      const out = await authn.authenticate(bearer(await t.sign(key1)), '/');
      assert.deepEqual(out, { kind: 'invalid', reason: JwtFailure.fetch });
    });
  }

  it('close() aborts a fetch in flight', async () => {
    reset(t.jwks(key1));
    server.hang = true;
    const authn = compileJwtRules([rule({ jwksUri: server.url })], { fetchTimeoutMs: 60_000 });
    const pending = authn.authenticate(bearer(await t.sign(key1)), '/');
    for (let i = 0; i < 200 && server.fetches === 0; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(server.fetches, 1);
    authn.close();
    assert.deepEqual(await pending, { kind: 'invalid', reason: JwtFailure.fetch });
  });
});
