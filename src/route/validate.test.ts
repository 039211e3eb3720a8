import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RouteTable } from '../model/schema.ts';
import { parseConfigText } from '../model/load.ts';
import { ConfigError } from '../errors.ts';
import { compileRouteTable, RouteCompileError, validateRouteTables } from './router.ts';

const table = (routes: unknown[], domains: unknown[] = ['*']): RouteTable =>
  RouteTable.parse({ name: 't', virtualHosts: [{ name: 'vh', domains, routes }] });

test('a bad regex makes compileRouteTable throw TRELLIS_ROUTE_INVALID', () => {
  const bad = table([{ match: { path: { regex: '/(a' } }, backends: [{ cluster: 'c' }] }]);
  assert.throws(
    () => compileRouteTable(bad),
    (err: unknown) =>
      err instanceof RouteCompileError &&
      err.code === 'TRELLIS_ROUTE_INVALID' &&
      /missing closing \)/.test(err.message),
  );
});

test('validateRouteTables reports each problem at its path from the config root', () => {
  const good = table([{ backends: [{ cluster: 'c' }] }]);
  const bad = RouteTable.parse({
    name: 'b',
    virtualHosts: [
      { name: 'a', domains: ['*'], routes: [{ backends: [{ cluster: 'c' }] }] },
      {
        name: 'b',
        domains: ['x.*.com', 'B.svc', 'b.SVC'],
        routes: [
          { backends: [{ cluster: 'c' }] },
          { backends: [{ cluster: 'c' }] },
          {
            match: [
              { path: { regex: 'ok' } },
              {
                path: { prefix: '/', exact: '/' },
                headers: [{ name: 'h', regex: '(?<=x)', exact: 'y' }],
                query: [{ name: 'q', regex: '[' }],
              },
            ],
            backends: [{ cluster: 'c' }],
          },
          { match: { path: { regex: '\\1' } }, backends: [{ cluster: 'c' }] },
        ],
      },
    ],
  });
  const problems = validateRouteTables([good, bad]);
  const byPath = new Map(problems.map((p) => [p.path.join('.'), p.message]));
  const route2 = 'routeTables.1.virtualHosts.1.routes.2.match.1';
  assert.match(byPath.get('routeTables.1.virtualHosts.1.domains.0') ?? '', /may only start or end/);
  assert.match(
    byPath.get('routeTables.1.virtualHosts.1.domains.2') ?? '',
    /already served by virtual host "b"/,
  );
  assert.match(byPath.get(`${route2}.path`) ?? '', /at most one of exact, prefix, regex/);
  assert.match(byPath.get(`${route2}.headers.0`) ?? '', /at most one of/);
  assert.match(byPath.get(`${route2}.headers.0.regex`) ?? '', /invalid regex/);
  assert.match(byPath.get(`${route2}.query.0.regex`) ?? '', /invalid regex "\["/);
  assert.match(byPath.get('routeTables.1.virtualHosts.1.routes.3.match.path.regex') ?? '', /invalid regex/);
  assert.equal(problems.length, 7, JSON.stringify(problems));
});

test('a bad regex in a config file is reported with file:line:column', () => {
  const text = [
    'listeners:', // 1
    '  - name: out', // 2
    '    direction: outbound', // 3
    '    port: 0', // 4
    '    routeTable: main', // 5
    'routeTables:', // 6
    '  - name: main', // 7
    '    virtualHosts:', // 8
    '      - name: shop', // 9
    '        domains: ["*"]', // 10
    '        routes:', // 11
    '          - match:', // 12
    '              path:', // 13
    '                regex: "/items/(["', // 14
    '            backends: [{ cluster: web }]', // 15
    'clusters:', // 16
    '  - name: web', // 17
  ].join('\n');
  let error: unknown;
  try {
    parseConfigText(text, 'mesh.yaml');
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError, String(error));
  assert.equal(error.diagnostics.length, 1, error.message);
  const d = error.diagnostics[0]!;
  assert.equal(d.path, 'routeTables[0].virtualHosts[0].routes[0].match.path.regex');
  assert.equal(d.line, 14);
  assert.equal(d.column, 24);
  assert.match(error.message, /^mesh\.yaml:14:24: invalid regex "\/items\/\(\["/);
});

test('a config with valid route tables still loads', () => {
  const cfg = parseConfigText(
    'routeTables:\n  - name: m\n    virtualHosts:\n      - name: v\n        domains: ["*"]\n' +
      '        routes:\n          - match: { path: { regex: "/v[0-9]+" } }\n            backends: [{ cluster: c }]\n' +
      'clusters:\n  - name: c\n',
    'ok.yaml',
  );
  assert.equal(validateRouteTables(cfg.routeTables).length, 0);
});
