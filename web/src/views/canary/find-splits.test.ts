import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ResourceObject } from '../../types.ts';
import { candidateServices, serviceOfHost, targetsOf } from './find-splits.ts';

const res = (kind: string, name: string, spec: unknown, namespace = 'default'): ResourceObject => ({
  apiVersion: 'x',
  kind,
  metadata: { name, namespace },
  spec,
});

test('hosts name services as Istio reads them', () => {
  assert.deepEqual(serviceOfHost('reviews', 'shop'), { namespace: 'shop', name: 'reviews' });
  assert.deepEqual(serviceOfHost('reviews--v2.default', 'shop'), {
    namespace: 'default',
    name: 'reviews--v2',
  });
  assert.deepEqual(serviceOfHost('reviews.prod.svc.cluster.local', 'shop'), {
    namespace: 'prod',
    name: 'reviews',
  });
  assert.equal(serviceOfHost('api.example.com', 'shop'), undefined);
  assert.equal(serviceOfHost('*.example.com', 'shop'), undefined);
});

test('each routing kind names the service it routes', () => {
  assert.deepEqual(targetsOf(res('TrafficRoute', 'c', { service: 'reviews', routes: [] })), [
    { namespace: 'default', name: 'reviews' },
  ]);
  assert.deepEqual(targetsOf(res('TrafficSplit', 's', { service: 'reviews.shop', backends: [] })), [
    { namespace: 'shop', name: 'reviews' },
  ]);
  assert.deepEqual(targetsOf(res('VirtualService', 'v', { hosts: ['reviews', 'api.example.com'] })), [
    { namespace: 'default', name: 'reviews' },
  ]);
  assert.deepEqual(
    targetsOf(res('HTTPRoute', 'h', { parentRefs: [{ kind: 'Service', name: 'reviews' }, { name: 'gw' }] })),
    [{ namespace: 'default', name: 'reviews' }],
  );
  assert.deepEqual(targetsOf(res('ServiceProfile', 'books.shop.svc.cluster.local', {})), [
    { namespace: 'shop', name: 'books' },
  ]);
  assert.deepEqual(targetsOf(res('DestinationRule', 'd', { host: 'reviews' })), []);
});

test('candidates are distinct and sorted', () => {
  assert.deepEqual(
    candidateServices([
      res('VirtualService', 'v', { hosts: ['ratings', 'reviews'] }),
      res('TrafficRoute', 'c', { service: 'reviews' }),
    ]),
    [
      { namespace: 'default', name: 'ratings' },
      { namespace: 'default', name: 'reviews' },
    ],
  );
});
