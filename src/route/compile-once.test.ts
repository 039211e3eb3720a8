// Route tables are compiled once per config, not interpreted per request: matching hands back the
// routes compiled with the table, and no regular expression is compiled while requests are matched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../model/schema.ts';
import { re2 } from './re2.ts';
import { compileRouteTable } from './router.ts';

test('a table is compiled once: matching 3,000 requests compiles no pattern and builds no route', (t) => {
  const RE2 = re2();
  let compiles = 0;
  const compile = RE2.compile.bind(RE2);
  t.mock.method(RE2, 'compile', (...args: Parameters<typeof RE2.compile>) => {
    compiles++;
    return compile(...args);
  });
  const router = compileRouteTable(
    RouteTable.parse({
      name: 't',
      virtualHosts: [
        {
          name: 'api',
          domains: ['api', '*.api.test'],
          routes: [
            {
              name: 'items',
              match: { path: { regex: '/v[0-9]+/items/[0-9]+' } },
              backends: [{ cluster: 'a' }],
            },
            {
              name: 'beta',
              match: { headers: [{ name: 'x-user', regex: 'beta-.*' }] },
              backends: [{ cluster: 'b' }],
            },
            { name: 'rest', backends: [{ cluster: 'c' }] },
          ],
        },
      ],
    }),
  );
  const atCompile = compiles;
  assert.equal(atCompile, 2, 'both patterns compiled with the table');
  const byName = new Map(router.routes.map((r) => [r.name, r]));
  for (let i = 0; i < 1000; i++) {
    const host = i % 2 ? 'api' : `n${i}.api.test`;
    assert.equal(
      router.match({ authority: host, path: `/v1/items/${i}`, method: 'GET', headers: [] }),
      byName.get('items'),
    );
    assert.equal(
      router.match({ authority: host, path: '/x', method: 'GET', headers: ['x-user', `beta-${i}`] }),
      byName.get('beta'),
    );
    assert.equal(
      router.match({ authority: host, path: '/x', method: 'GET', headers: [] }),
      byName.get('rest'),
    );
  }
  assert.equal(compiles, atCompile, 'no pattern compiled per request');
});
