// `trellis proxy-config` rendering from a fixture config: each section's table (and -o wide), the
// raw objects -o json prints, the version notes, and how a PROXY argument finds its proxy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxyConfigView } from '../control/api-proxy-config.ts';
import type { ProxyStatus } from '../control/push-server.ts';
import { ProxyConfig } from '../model/schema.ts';
import { CliError } from './api-client.ts';
import { renderSection, resolveProxy, versionNotes } from './proxy-config-command.ts';
import { duration, parseSection, sectionItems, sectionTable } from './proxy-config-sections.ts';

const { secrets: _none, ...config } = ProxyConfig.parse({
  version: '12',
  node: { id: 'web-1', namespace: 'default' },
  listeners: [
    { name: 'outbound', direction: 'outbound', port: 15001, protocol: 'http', routeTable: 'outbound' },
    {
      name: 'inbound',
      direction: 'inbound',
      address: '::',
      port: 15006,
      routeTable: 'inbound',
      mtls: { mode: 'STRICT' },
    },
  ],
  routeTables: [
    {
      name: 'outbound',
      virtualHosts: [
        {
          name: 'reviews.default',
          domains: ['reviews', 'reviews.default', 'reviews.default.svc.cluster.local'],
          routes: [
            {
              name: 'canary',
              match: {
                path: { prefix: '/api' },
                methods: ['GET'],
                headers: [{ name: 'x-canary', exact: '1' }],
              },
              backends: [
                { cluster: 'outbound:reviews-v1.default', weight: 90 },
                { cluster: 'outbound:reviews-v2.default', weight: 10 },
              ],
              timeout: '15s',
              retries: { attempts: 3, perTryTimeout: '500ms', retryOn: ['5xx'] },
              fault: { abort: { httpStatus: 503, percent: 1 } },
            },
            { backends: [{ cluster: 'outbound:reviews.default' }] },
          ],
        },
      ],
    },
    {
      name: 'inbound',
      virtualHosts: [{ name: 'app', domains: ['*'], routes: [{ backends: [{ cluster: 'inbound:app' }] }] }],
    },
  ],
  clusters: [
    {
      name: 'outbound:reviews.default',
      protocol: 'http2',
      lb: { policy: 'ring_hash', hash: { header: 'x-user' } },
      mtls: { identities: ['spiffe://cluster.local/ns/default/sa/reviews'] },
      service: { name: 'reviews', namespace: 'default' },
      endpoints: [
        {
          address: '10.0.0.1',
          port: 15006,
          labels: { app: 'reviews', version: 'v1' },
          locality: 'eu/a',
        },
        { address: '10.0.0.2', port: 15006, healthy: false, weight: 2 },
      ],
      limits: { maxConnections: 100, maxPendingRequests: 10 },
      outlierDetection: { consecutive5xx: 5, baseEjectionTime: '30s', maxEjectionPercent: 50 },
    },
    { name: 'inbound:app', endpoints: [{ address: '127.0.0.1', port: 8080 }] },
  ],
});

const leaf = {
  spiffeId: 'spiffe://cluster.local/ns/default/sa/web',
  subject: '',
  issuer: 'O=Trellis, CN=Trellis Root CA cluster.local',
  serial: '0a1b',
  notBefore: '2030-01-01T00:00:00.000Z',
  notAfter: '2030-01-02T00:00:00.000Z',
  isCa: false,
};
const root = {
  subject: 'O=Trellis, CN=Trellis Root CA cluster.local',
  issuer: 'O=Trellis, CN=Trellis Root CA cluster.local',
  serial: '01',
  notBefore: '2029-01-01T00:00:00.000Z',
  notAfter: '2039-01-01T00:00:00.000Z',
  isCa: true,
};

const view: ProxyConfigView = {
  proxy: {
    id: 'web-1.default',
    workload: 'web-1',
    namespace: 'default',
    connectedAt: '2030-01-01T00:00:00Z',
  },
  inForce: '12',
  config,
  secrets: { certificate: [leaf], certificateSource: 'issued', trustBundle: [root] },
};
/** 15 hours after the leaf's notBefore. */
const NOW = Date.parse('2030-01-01T15:00:00Z');

const lines = (s: string): string[] => s.trimEnd().split('\n');

test('listeners: name, address:port, protocol, mTLS mode, route table; wide adds direction', () => {
  assert.deepEqual(lines(renderSection(view, 'listeners', 'table')), [
    'NAME       ADDRESS:PORT      PROTOCOL   MTLS     ROUTES',
    'outbound   127.0.0.1:15001   http       -        outbound',
    'inbound    [::]:15006        detect     STRICT   inbound',
  ]);
  const wide = sectionTable(view, 'listeners', true);
  assert.deepEqual(wide.headers.slice(5), ['DIRECTION', 'TCP-CLUSTER', 'IDLE-TIMEOUT']);
  assert.deepEqual(wide.rows[1]?.slice(5), ['inbound', '-', '5m']);
});

test('routes: listener/vhost, domains, match, weighted backends, timeout, retries', () => {
  assert.deepEqual(lines(renderSection(view, 'routes', 'table')), [
    'LISTENER/VHOST             DOMAINS                      MATCH                  BACKENDS                                                           TIMEOUT   RETRIES',
    'outbound/reviews.default   reviews,reviews.default +1   /api* GET x-canary=1   outbound:reviews-v1.default 90%, outbound:reviews-v2.default 10%   15s       3 (500ms each)',
    'outbound/reviews.default   reviews,reviews.default +1   *                      outbound:reviews.default                                           -         -',
    'inbound/app                *                            *                      inbound:app                                                        -         -',
  ]);
  const t = sectionTable(view, 'routes', false);
  assert.deepEqual(t.headers, ['LISTENER/VHOST', 'DOMAINS', 'MATCH', 'BACKENDS', 'TIMEOUT', 'RETRIES']);
  assert.deepEqual(t.rows, [
    [
      'outbound/reviews.default',
      'reviews,reviews.default +1',
      '/api* GET x-canary=1',
      'outbound:reviews-v1.default 90%, outbound:reviews-v2.default 10%',
      '15s',
      '3 (500ms each)',
    ],
    ['outbound/reviews.default', 'reviews,reviews.default +1', '*', 'outbound:reviews.default', '-', '-'],
    ['inbound/app', '*', '*', 'inbound:app', '-', '-'],
  ]);
  const wide = sectionTable(view, 'routes', true);
  assert.deepEqual(wide.rows[0]?.slice(6), ['canary', '5xx', 'fault']);
  assert.deepEqual(wide.rows[1]?.slice(6), ['#1', '-', '-']);
});

test('clusters: protocol, lb, healthy/total endpoints, mTLS identities; wide adds breaker and outlier', () => {
  assert.deepEqual(lines(renderSection(view, 'clusters', 'table')), [
    'NAME                       PROTOCOL   LB                         ENDPOINTS   MTLS',
    'outbound:reviews.default   http2      ring_hash(header x-user)   1/2         spiffe://cluster.local/ns/default/sa/reviews',
    'inbound:app                http1      ewma                       1/1         -',
  ]);
  const t = sectionTable(view, 'clusters', true);
  assert.deepEqual(t.headers, [
    'NAME',
    'PROTOCOL',
    'LB',
    'ENDPOINTS',
    'MTLS',
    'BREAKER',
    'OUTLIER',
    'SERVICE',
  ]);
  assert.deepEqual(t.rows[0], [
    'outbound:reviews.default',
    'http2',
    'ring_hash(header x-user)',
    '1/2',
    'spiffe://cluster.local/ns/default/sa/reviews',
    'conn=100,pending=10',
    '5xx×5 eject 30s max 50%',
    'reviews.default',
  ]);
  assert.deepEqual(t.rows[1], ['inbound:app', 'http1', 'ewma', '1/1', '-', '-', '-', '-']);
});

test('endpoints: one row each with its cluster; labels in wide; -o json adds the cluster to the model object', () => {
  assert.deepEqual(lines(renderSection(view, 'endpoints', 'table')), [
    'CLUSTER                    ADDRESS:PORT     HEALTHY   WEIGHT   LOCALITY',
    'outbound:reviews.default   10.0.0.1:15006   true      1        eu/a',
    'outbound:reviews.default   10.0.0.2:15006   false     2        -',
    'inbound:app                127.0.0.1:8080   true      1        -',
  ]);
  assert.deepEqual(
    sectionTable(view, 'endpoints', true).rows.map((r) => r[5]),
    ['app=reviews,version=v1', '-', '-'],
  );
  assert.deepEqual((sectionItems(view, 'endpoints') as unknown[])[1], {
    cluster: 'outbound:reviews.default',
    address: '10.0.0.2',
    port: 15006,
    weight: 2,
    healthy: false,
    labels: {},
  });
  assert.equal(sectionItems(view, 'clusters'), config.clusters);
});

test('secrets: the certificate by SPIFFE ID, its issuer, expiry and what remains, then the roots', () => {
  const t = sectionTable(view, 'secrets', false, NOW);
  assert.deepEqual(t.headers, ['TYPE', 'SPIFFE-ID', 'ISSUER', 'NOT-AFTER', 'REMAINING']);
  assert.deepEqual(t.rows, [
    ['CERTIFICATE', leaf.spiffeId, root.subject, '2030-01-02T00:00:00Z', '9h'],
    ['ROOT', root.subject, root.subject, '2039-01-01T00:00:00Z', '3286d'],
  ]);
  const expired = sectionTable(view, 'secrets', true, Date.parse('2030-01-02T00:05:00Z'));
  assert.deepEqual(expired.rows[0]?.slice(4), ['expired 5m ago', '0a1b', '2030-01-01T00:00:00Z']);
  assert.equal(sectionItems(view, 'secrets'), view.secrets);
});

test('nothing in force yet: empty sections and a note naming the pending version', () => {
  const waiting: ProxyConfigView = { ...view, inForce: null, pending: '13', config: null };
  assert.equal(renderSection(waiting, 'clusters', 'table'), '');
  assert.deepEqual(sectionItems(waiting, 'routes'), []);
  assert.deepEqual(versionNotes(waiting), [
    'proxy web-1.default has not acknowledged a config on its stream yet (version 13 pending)',
  ]);
  assert.deepEqual(versionNotes(view), []);
  const rejected: ProxyConfigView = { ...view, rejected: { version: '14', error: 'port in use\nmore' } };
  assert.deepEqual(versionNotes(rejected), [
    'proxy web-1.default rejected version 14, version 12 stays in force: port in use',
  ]);
});

test('a proxy is found by ID, workload name or unique prefix; ambiguous and unknown are exit 1', () => {
  const p = (workload: string, namespace = 'default'): ProxyStatus => ({
    id: `${workload}.${namespace}`,
    workload,
    namespace,
    connectedAt: '2030-01-01T00:00:00Z',
  });
  const items = [p('web-1'), p('web-2'), p('web-1', 'prod'), p('reviews-1'), p('reviews-1')];
  assert.equal(resolveProxy(items, 'web-1.prod').id, 'web-1.prod');
  assert.equal(resolveProxy(items, 'reviews').id, 'reviews-1.default', 'two streams of one proxy count once');
  assert.equal(resolveProxy(items, 'web-1', 'prod').id, 'web-1.prod');
  assert.equal(resolveProxy(items, 'web-2').id, 'web-2.default');
  const ambiguous = (() => {
    try {
      resolveProxy(items, 'web-1');
    } catch (err) {
      return err;
    }
  })();
  assert.ok(ambiguous instanceof CliError);
  assert.equal(ambiguous.code, 'TRELLIS_PROXY_AMBIGUOUS');
  assert.equal(ambiguous.exitCode, 1);
  assert.match(ambiguous.message, /matches 2 proxies: web-1\.default, web-1\.prod/);
  assert.throws(() => resolveProxy(items, 'ratings'), { code: 'TRELLIS_PROXY_NOT_FOUND', exitCode: 1 });
  assert.throws(() => resolveProxy(items, 'reviews', 'prod'), /in namespace prod/);
});

test('sections take singular or plural; durations read as an operator writes them', () => {
  assert.equal(parseSection('cluster'), 'clusters');
  assert.equal(parseSection('Routes'), 'routes');
  assert.equal(parseSection('bogus'), undefined);
  assert.deepEqual([0, 250, 1500, 15_000, 90_000, 300_000, 7_200_000].map(duration), [
    'off',
    '250ms',
    '1.5s',
    '15s',
    '90s',
    '5m',
    '2h',
  ]);
});
