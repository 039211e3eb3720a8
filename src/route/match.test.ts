import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable, type RouteMatch } from '../model/schema.ts';
import { compileRouteTable, type RouteInput, type Router } from './router.ts';

/** A router with one virtual host ("*") and one route per given match, plus nothing else. */
function routerFor(match: unknown): Router {
  const route = { name: 'r', match, backends: [{ cluster: 'c' }] };
  return compileRouteTable(
    RouteTable.parse({ name: 't', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [route] }] }),
  );
}

function req(path: string, extra: Partial<RouteInput> = {}): RouteInput {
  return { authority: 'svc', path, method: 'GET', headers: [], ...extra };
}

function hits(match: unknown, input: RouteInput): boolean {
  return routerFor(match).match(input)?.name === 'r';
}

test('path exact ignores the query string and rejects anything longer or shorter', () => {
  const m = { path: { exact: '/a' } };
  assert.ok(hits(m, req('/a')));
  assert.ok(hits(m, req('/a?x=1')));
  assert.ok(!hits(m, req('/ab')));
  assert.ok(!hits(m, req('/')));
  assert.ok(!hits(m, req('/A')));
});

test('path prefix is a plain string prefix, tested without the query', () => {
  const m = { path: { prefix: '/api' } };
  assert.ok(hits(m, req('/api')));
  assert.ok(hits(m, req('/api/v1')));
  assert.ok(hits(m, req('/apix')));
  assert.ok(!hits(m, req('/ap?i')));
  assert.ok(!hits(m, req('/other')));
});

test('path regex is a full match on the path without the query', () => {
  const m = { path: { regex: '/v[0-9]+/items' } };
  assert.ok(hits(m, req('/v12/items')));
  assert.ok(hits(m, req('/v1/items?page=2')));
  assert.ok(!hits(m, req('/v1/items/7')));
  assert.ok(!hits(m, req('/x/v1/items')));
});

test('a catastrophic-backtracking pattern is linear in RE2 and simply does not match', () => {
  const router = routerFor({ path: { regex: '/(a+)+$' } });
  assert.equal(router.match(req('/' + 'a'.repeat(30) + '!')), undefined);
  const header = routerFor({ headers: [{ name: 'x', regex: '(a+)+$' }] });
  assert.equal(header.match(req('/', { headers: ['x', 'a'.repeat(30) + '!'] })), undefined);
});

test('methods are matched case-sensitively', () => {
  const m = { methods: ['GET', 'HEAD'] };
  assert.ok(hits(m, req('/')));
  assert.ok(hits(m, req('/', { method: 'HEAD' })));
  assert.ok(!hits(m, req('/', { method: 'POST' })));
  assert.ok(!hits(m, req('/', { method: 'get' })));
});

test('header value tests use the first value and their inverse', () => {
  const cases: [Record<string, unknown>, string, boolean][] = [
    [{ exact: 'v2' }, 'v2', true],
    [{ exact: 'v2' }, 'v21', false],
    [{ prefix: 'v' }, 'v9', true],
    [{ prefix: 'v' }, 'x9', false],
    [{ suffix: '-beta' }, 'app-beta', true],
    [{ suffix: '-beta' }, 'app-beta2', false],
    [{ regex: 'v[0-9]' }, 'v3', true],
    [{ regex: 'v[0-9]' }, 'v3x', false],
  ];
  for (const [test, value, expected] of cases) {
    const plain = { headers: [{ name: 'X-Version', ...test }] };
    const inverted = { headers: [{ name: 'x-version', ...test, invert: true }] };
    const input = req('/', { headers: ['x-version', value, 'x-version', 'v2'] });
    assert.equal(hits(plain, input), expected, JSON.stringify({ test, value }));
    assert.equal(hits(inverted, input), !expected, JSON.stringify({ test, value, invert: true }));
    // A missing header fails a value test, inverted or not (Envoy's invert_match).
    assert.ok(!hits(plain, req('/')));
    assert.ok(!hits(inverted, req('/')));
  }
});

test('header presence and absence, and their inverse', () => {
  const withIt = req('/', { headers: ['x-debug', ''] });
  const without = req('/', { headers: ['other', '1'] });
  const present = { headers: [{ name: 'x-debug', present: true }] };
  const absent = { headers: [{ name: 'x-debug', present: false }] };
  const bare = { headers: [{ name: 'x-debug' }] };
  assert.ok(hits(present, withIt));
  assert.ok(!hits(present, without));
  assert.ok(hits(bare, withIt));
  assert.ok(!hits(bare, without));
  assert.ok(!hits(absent, withIt));
  assert.ok(hits(absent, without));
  const notPresent = { headers: [{ name: 'x-debug', present: true, invert: true }] };
  const notAbsent = { headers: [{ name: 'x-debug', present: false, invert: true }] };
  assert.ok(!hits(notPresent, withIt));
  assert.ok(hits(notPresent, without));
  assert.ok(hits(notAbsent, withIt));
  assert.ok(!hits(notAbsent, without));
});

test('every header of a match must hold; pseudo-headers read the request line', () => {
  const m = {
    headers: [
      { name: ':authority', exact: 'svc' },
      { name: ':method', exact: 'PUT' },
      { name: 'x-a', exact: '1' },
    ],
  };
  assert.ok(hits(m, req('/', { method: 'PUT', headers: ['x-a', '1'] })));
  assert.ok(!hits(m, req('/', { method: 'GET', headers: ['x-a', '1'] })));
  assert.ok(!hits(m, req('/', { method: 'PUT', headers: ['x-a', '2'] })));
});

test('query parameters: exact, prefix, regex, present, absent, on decoded values', () => {
  const q = (spec: Record<string, unknown>): unknown => ({ query: [{ name: 'user', ...spec }] });
  assert.ok(hits(q({ exact: 'jason' }), req('/p?a=1&user=jason')));
  assert.ok(!hits(q({ exact: 'jason' }), req('/p?user=jasonx')));
  assert.ok(!hits(q({ exact: 'jason' }), req('/p')));
  assert.ok(hits(q({ exact: 'a b/c' }), req('/p?user=a+b%2Fc')));
  assert.ok(hits(q({ exact: 'first' }), req('/p?user=first&user=second')));
  assert.ok(hits(q({ prefix: 'ja' }), req('/p?user=jay')));
  assert.ok(!hits(q({ prefix: 'ja' }), req('/p?user=bob')));
  assert.ok(hits(q({ regex: '[a-z]+[0-9]' }), req('/p?user=bob7')));
  assert.ok(!hits(q({ regex: '[a-z]+[0-9]' }), req('/p?user=bob7x')));
  assert.ok(hits(q({ present: true }), req('/p?user')));
  assert.ok(!hits(q({ present: true }), req('/p?users=1')));
  assert.ok(hits(q({ present: false }), req('/p?users=1')));
  assert.ok(!hits(q({ present: false }), req('/p?user=1')));
  assert.ok(hits(q({ exact: '%zz' }), req('/p?user=%zz')), 'malformed escapes match as sent');
});

test('a list of matches is any-of; each RouteMatch is all-of', () => {
  const m: RouteMatch[] = [
    { path: { prefix: '/a' }, methods: ['POST'], headers: [], query: [] },
    { path: { exact: '/b' }, headers: [], query: [] },
  ];
  assert.ok(hits(m, req('/a/1', { method: 'POST' })));
  assert.ok(!hits(m, req('/a/1')));
  assert.ok(hits(m, req('/b')));
  assert.ok(!hits(m, req('/c')));
  assert.ok(hits(undefined, req('/anything')), 'no match field matches every request');
  assert.ok(hits([], req('/anything')), 'an empty list matches every request too');
});

test('routes are tried in order and the first match wins; unnamed routes are named vhost/index', () => {
  const router = compileRouteTable(
    RouteTable.parse({
      name: 't',
      virtualHosts: [
        {
          name: 'shop',
          domains: ['shop'],
          routes: [
            { match: { path: { prefix: '/api/v2' } }, backends: [{ cluster: 'v2' }], timeout: '2s' },
            { name: 'api', match: { path: { prefix: '/api' } }, backends: [{ cluster: 'v1' }] },
            { match: { path: { prefix: '/api/v2/never' } }, backends: [{ cluster: 'shadowed' }] },
            { backends: [{ cluster: 'web' }] },
          ],
        },
      ],
    }),
  );
  const first = router.match({ authority: 'shop', path: '/api/v2/never', method: 'GET', headers: [] });
  assert.equal(first?.name, 'shop/0');
  assert.equal(first?.virtualHost, 'shop');
  assert.equal(first?.timeoutMs, 2000);
  assert.equal(first?.pickCluster(), 'v2');
  assert.equal(first?.config.backends[0]?.cluster, 'v2');
  const api = router.match({ authority: 'shop', path: '/api/v1', method: 'GET', headers: [] });
  assert.equal(api?.name, 'api');
  assert.equal(api?.timeoutMs, 0);
  assert.equal(router.match({ authority: 'shop', path: '/', method: 'GET', headers: [] })?.name, 'shop/3');
  // The same object for every request taking the route: nothing is built per request.
  assert.equal(router.match({ authority: 'shop', path: '/api/x', method: 'GET', headers: [] }), api);
});
