// The inbound stack's JWT authentication and authorization on a real proxy pair (mesh mTLS between
// them): 401 for a present, invalid token; 403 "RBAC: access denied" from policy; claims and
// request principals usable in policies; the token kept from the app unless told otherwise; a
// denied TCP connection closed.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { jwks, sign, testKey, withBadSignature } from '../authn/testing.ts';
import { openTestCa } from '../identity/testing.ts';
import type { AuthzPolicy, JwtRule } from '../model/security.ts';
import {
  clientConfig,
  credentials,
  REVIEWS,
  secretsOf,
  serverConfig,
  startEchoApp,
  startProxy,
  WEB,
} from '../tls/testing.ts';

const ISSUER = 'https://issuer.example.com';

test('RequestAuthentication + AuthorizationPolicy on the inbound side', async (t) => {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const key = await testKey('k1');
  const jwtRules: JwtRule[] = [
    { issuer: ISSUER, audiences: ['api'], jwks: JSON.stringify(jwks(key)), forwardOriginalToken: false },
  ];
  const authorization: AuthzPolicy[] = [
    {
      name: 'default/deny-delete',
      action: 'DENY',
      rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }],
    },
    {
      name: 'default/reviews',
      action: 'ALLOW',
      rules: [
        // web may read without a token.
        {
          from: [{ source: { principals: ['cluster.local/ns/default/sa/web'] } }],
          to: [{ operation: { methods: ['GET'], paths: ['/public/*'] } }],
        },
        // Anything else needs alice's token with the admin group.
        {
          from: [{ source: { requestPrincipals: [`${ISSUER}/alice`] } }],
          when: [{ key: 'request.auth.claims[groups]', values: ['admin'] }],
        },
      ],
    },
  ];
  const app = await startEchoApp(t);
  const server = await startProxy(
    t,
    serverConfig(app, secretsOf(await credentials(ca, REVIEWS), bundle), {
      inboundSecurity: { jwtRules, authorization },
    }),
  );
  const client = await startProxy(
    t,
    clientConfig(server.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle)),
  );
  const call = async (
    method: string,
    path: string,
    token?: string,
  ): Promise<{ status: number; text: string; wwwAuth: string | null }> => {
    const res = await fetch(`http://127.0.0.1:${client.ports().outbound}${path}`, {
      method,
      headers: { host: 'reviews', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    });
    return {
      status: res.status,
      text: (await res.text()).trim(),
      wwwAuth: res.headers.get('www-authenticate'),
    };
  };

  assert.equal((await call('GET', '/public/1')).status, 200, 'web by its mTLS identity');
  const noToken = await call('GET', '/private');
  assert.deepEqual([noToken.status, noToken.text], [403, 'RBAC: access denied']);

  const admin = await sign(key, { groups: ['admin', 'dev'] });
  const ok = await call('GET', '/private', admin);
  assert.equal(ok.status, 200);
  assert.equal(
    (JSON.parse(ok.text) as { authorization: string | null }).authorization,
    null,
    'token removed',
  );

  assert.equal((await call('GET', '/private', await sign(key, { groups: ['dev'] }))).status, 403);
  assert.equal((await call('DELETE', '/private', admin)).status, 403, 'DENY before ALLOW');

  const invalid: [string, string][] = [
    ['expired', await sign(key, { groups: ['admin'], exp: Math.floor(Date.now() / 1000) - 600 })],
    ['wrong issuer', await sign(key, { groups: ['admin'], iss: 'https://other.example.com' })],
    ['wrong audience', await sign(key, { groups: ['admin'], aud: 'other' })],
    ['tampered', withBadSignature(admin)],
  ];
  for (const [what, token] of invalid) {
    const res = await call('GET', '/public/1', token);
    assert.equal(res.status, 401, what);
    assert.match(res.wwwAuth ?? '', /^Bearer/, what);
  }
});

test('a TCP connection denied by AuthorizationPolicy is closed; an allowed one is relayed', async (t) => {
  const ca = await openTestCa(t);
  const bundle = ca.trustBundlePem();
  const echo = net.createServer((s) => s.on('error', () => {}).pipe(s)).listen(0, '127.0.0.1');
  await once(echo, 'listening');
  t.after(() => echo.close());
  const policy = (principal: string): AuthzPolicy[] => [
    { name: 'default/db', action: 'ALLOW', rules: [{ from: [{ source: { principals: [principal] } }] }] },
  ];
  const echoPort = (echo.address() as net.AddressInfo).port;
  const exchange = async (authorizedPrincipal: string): Promise<string> => {
    const server = await startProxy(
      t,
      serverConfig(echoPort, secretsOf(await credentials(ca, REVIEWS), bundle), {
        protocol: 'tcp',
        inboundSecurity: { authorization: policy(authorizedPrincipal) },
      }),
    );
    const client = await startProxy(
      t,
      clientConfig(server.ports().inbound!, secretsOf(await credentials(ca, WEB), bundle), {
        protocol: 'tcp',
      }),
    );
    const sock = net.connect(client.ports().outbound!, '127.0.0.1');
    sock.on('error', () => {});
    t.after(() => sock.destroy());
    await once(sock, 'connect');
    sock.write('hello');
    return Promise.race([
      once(sock, 'data').then(([d]) => `echo:${String(d)}`),
      once(sock, 'close').then(() => 'closed'),
    ]);
  };
  assert.equal(await exchange('cluster.local/ns/default/sa/web'), 'echo:hello');
  assert.equal(await exchange('cluster.local/ns/default/sa/other'), 'closed');
});
