import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.ts';
import { parseConfigText } from './load.ts';

const config = (tcpCluster: string, direction = 'outbound'): string => `
listeners:
  - name: out
    direction: ${direction}
    port: 15001
    routeTable: main
    interception:
      passthrough: deny
      destinations:
        - address: 240.240.0.2
          port: 9080
          authority: reviews:9080
          tcpCluster: ${tcpCluster}
routeTables:
  - name: main
    virtualHosts: []
clusters:
  - name: reviews
    protocol: tcp
`;

function diagnostics(text: string): ConfigError {
  try {
    parseConfigText(text, 'cfg.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('an intercepted destination parses', () => {
  const cfg = parseConfigText(config('reviews'), 'cfg.yaml');
  assert.deepEqual(cfg.listeners[0]?.interception, {
    passthrough: 'deny',
    destinations: [{ address: '240.240.0.2', port: 9080, authority: 'reviews:9080', tcpCluster: 'reviews' }],
  });
});

test('a destination’s tcpCluster must exist, reported where it is written', () => {
  const err = diagnostics(config('nope'));
  const d = err.diagnostics.find((x) => x.path === 'listeners[0].interception.destinations[0].tcpCluster');
  assert.ok(d, err.message);
  assert.match(d.message, /unknown cluster "nope"/);
  assert.equal(d.line, 13);
  assert.equal(d.column, 23);
});

test('interception belongs on outbound listeners', () => {
  const err = diagnostics(config('reviews', 'inbound'));
  assert.ok(
    err.diagnostics.some((d) => d.path === 'listeners[0].interception'),
    err.message,
  );
});
