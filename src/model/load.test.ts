import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfigText } from './load.ts';
import { ConfigError } from '../errors.ts';

const good = `
version: "7"
listeners:
  - name: out
    direction: outbound
    port: 15001
    routeTable: main
routeTables:
  - name: main
    virtualHosts:
      - name: reviews
        domains: [reviews]
        routes:
          - backends: [{ cluster: reviews-v1, weight: 90 }, { cluster: reviews-v2, weight: 10 }]
            timeout: 1.5s
clusters:
  - name: reviews-v1
    endpoints: [{ address: 127.0.0.1, port: 9080 }]
  - name: reviews-v2
    lb: { policy: ring_hash, hash: { header: x-user } }
`;

function diagnosticsOf(text: string): ConfigError {
  try {
    parseConfigText(text, 'cfg.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'TRELLIS_CONFIG_INVALID');
    return err;
  }
  assert.fail('expected a ConfigError');
}

test('a valid config parses with defaults filled in', () => {
  const cfg = parseConfigText(good, 'cfg.yaml');
  assert.equal(cfg.version, '7');
  assert.equal(cfg.listeners[0]?.protocol, 'detect');
  assert.equal(cfg.routeTables[0]?.virtualHosts[0]?.routes[0]?.timeout, 1500);
  assert.equal(cfg.clusters[0]?.lb.policy, 'ewma');
  assert.equal(cfg.clusters[0]?.connectTimeout, 1000);
  assert.equal(cfg.clusters[0]?.endpoints[0]?.weight, 1);
});

test('JSON is accepted too', () => {
  const cfg = parseConfigText(JSON.stringify({ version: 'j' }), 'cfg.json');
  assert.equal(cfg.version, 'j');
});

test('a wrong type is reported at its line and column', () => {
  const err = diagnosticsOf(good.replace('port: 15001', 'port: "many"'));
  const d = err.diagnostics[0];
  assert.ok(d);
  assert.equal(d.line, 6);
  assert.equal(d.column, 11);
  assert.equal(d.path, 'listeners[0].port');
  assert.match(err.message, /^cfg\.yaml:6:11: /);
});

test('unknown fields and bad durations are errors, not silently dropped', () => {
  const err = diagnosticsOf(good.replace('timeout: 1.5s', 'timeout: soon\n            retry: 3'));
  const messages = err.diagnostics.map((d) => d.message).join('\n');
  assert.match(messages, /invalid duration "soon"/);
  assert.match(messages, /unknown field\(s\): retry/);
});

test('references to missing clusters and tables are reported where they are written', () => {
  const err = diagnosticsOf(
    good.replace('cluster: reviews-v2,', 'cluster: ratings,').replace('routeTable: main', 'routeTable: nope'),
  );
  const byPath = new Map(err.diagnostics.map((d) => [d.path, d]));
  assert.match(byPath.get('listeners[0].routeTable')?.message ?? '', /unknown route table "nope"/);
  const backend = byPath.get('routeTables[0].virtualHosts[0].routes[0].backends[1].cluster');
  assert.ok(backend);
  assert.equal(backend.line, 14);
});

test('hash policies require a hash key', () => {
  const err = diagnosticsOf(good.replace(', hash: { header: x-user }', ''));
  assert.equal(err.diagnostics[0]?.path, 'clusters[1].lb.hash');
});

test('YAML syntax errors carry a position', () => {
  const err = diagnosticsOf('listeners: [\n  { name: a\n');
  assert.ok((err.diagnostics[0]?.line ?? 0) >= 1);
});
