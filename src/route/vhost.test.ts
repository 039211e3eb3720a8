import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../model/schema.ts';
import { compileRouteTable, type Router } from './router.ts';
import { stripPort } from './domains.ts';

/** One virtual host per entry, named by the entry's key, each with one catch-all route. */
function routerFor(vhosts: Record<string, string[]>): Router {
  return compileRouteTable(
    RouteTable.parse({
      name: 't',
      virtualHosts: Object.entries(vhosts).map(([name, domains]) => ({
        name,
        domains,
        routes: [{ backends: [{ cluster: name }] }],
      })),
    }),
  );
}

function vhostOf(router: Router, authority: string): string | undefined {
  return router.match({ authority, path: '/', method: 'GET', headers: [] })?.virtualHost;
}

test('exact beats suffix wildcard beats prefix wildcard beats *', () => {
  const router = routerFor({
    any: ['*'],
    prefix: ['api.*'],
    suffix: ['*.example.com'],
    exact: ['api.example.com'],
  });
  assert.equal(vhostOf(router, 'api.example.com'), 'exact');
  assert.equal(vhostOf(router, 'www.example.com'), 'suffix');
  assert.equal(vhostOf(router, 'api.example.org'), 'prefix');
  assert.equal(vhostOf(router, 'elsewhere'), 'any');
});

test('the longest wildcard wins, and a wildcard stands for at least one character', () => {
  const router = routerFor({
    short: ['*.com'],
    long: ['*.example.com'],
    dash: ['*-bar.example.com'],
    p1: ['foo.*'],
    p2: ['foo.bar.*'],
  });
  assert.equal(vhostOf(router, 'a.example.com'), 'long');
  assert.equal(vhostOf(router, 'baz-bar.example.com'), 'dash');
  assert.equal(vhostOf(router, 'example.com'), 'short');
  assert.equal(vhostOf(router, '-bar.example.com'), 'long');
  assert.equal(vhostOf(router, 'foo.bar.baz'), 'p2');
  assert.equal(vhostOf(router, 'foo.baz'), 'p1');
  assert.equal(vhostOf(router, 'foo.'), undefined);
  assert.equal(vhostOf(router, '.com'), undefined);
});

test('authority matching is case-insensitive on both sides', () => {
  const router = routerFor({ exact: ['Reviews.Default'], wild: ['*.EXAMPLE.com'] });
  assert.equal(vhostOf(router, 'REVIEWS.default'), 'exact');
  assert.equal(vhostOf(router, 'reviews.default'), 'exact');
  assert.equal(vhostOf(router, 'Www.Example.Com'), 'wild');
});

test('the authority is tried with its port first, then without', () => {
  const router = routerFor({ withPort: ['reviews:9080'], bare: ['reviews', '[::1]'], wild: ['*.svc'] });
  assert.equal(vhostOf(router, 'reviews:9080'), 'withPort');
  assert.equal(vhostOf(router, 'reviews:8080'), 'bare');
  assert.equal(vhostOf(router, 'reviews'), 'bare');
  assert.equal(vhostOf(router, '[::1]:80'), 'bare');
  assert.equal(vhostOf(router, 'ratings.svc:9080'), 'wild');
  assert.equal(vhostOf(router, 'ratings'), undefined);
  assert.equal(vhostOf(router, ''), undefined);
});

test('an exact domain without port beats a wildcard with it', () => {
  const router = routerFor({ bare: ['a.svc'], wild: ['*.svc:80'] });
  assert.equal(vhostOf(router, 'a.svc:80'), 'bare');
  assert.equal(vhostOf(router, 'b.svc:80'), 'wild');
});

test('lookups stay right past the authority cache size', () => {
  const router = routerFor({ wild: ['*.svc'], any: ['*'] });
  for (let i = 0; i < 5000; i++) assert.equal(vhostOf(router, `h${i}.svc`), 'wild');
  assert.equal(vhostOf(router, 'h1.svc'), 'wild');
  assert.equal(vhostOf(router, 'other'), 'any');
});

test('stripPort understands host:port, bracketed IPv6 and bare IPv6', () => {
  assert.equal(stripPort('a:80'), 'a');
  assert.equal(stripPort('a'), undefined);
  assert.equal(stripPort('[::1]:80'), '[::1]');
  assert.equal(stripPort('[::1]'), undefined);
  assert.equal(stripPort('::1'), undefined);
});
