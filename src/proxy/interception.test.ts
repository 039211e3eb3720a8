// The pure parts of interception; redirected sockets are tested in a netns (src/intercept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileInterception,
  isIpAuthority,
  redirectedProtocol,
  withDestinationAuthority,
} from './interception.ts';
import type { Dispatch, ProxyRequest } from './types.ts';

test('IP-literal authorities are recognised, names are not', () => {
  for (const a of ['10.96.0.10', '10.96.0.10:9080', '[fd00::1]:80', '[::1]']) assert.ok(isIpAuthority(a), a);
  for (const a of ['reviews', 'reviews:9080', 'a.b.c.d:80', '1.2.3.4.nip.io'])
    assert.ok(!isIpAuthority(a), a);
});

test('a request without a usable authority is routed as the destination’s', () => {
  const seen: string[] = [];
  const bottom: Dispatch = (req) => {
    seen.push(req.authority);
    return () => {};
  };
  const d = withDestinationAuthority('reviews.default.svc.cluster.local:9080', () => bottom);
  for (const authority of ['', '240.240.0.2:9080', 'reviews:9080'])
    d({ authority } as ProxyRequest, null, {} as Parameters<Dispatch>[2]);
  assert.deepEqual(seen, [
    'reviews.default.svc.cluster.local:9080',
    'reviews.default.svc.cluster.local:9080',
    'reviews:9080',
  ]);
});

test('destinations are found by address and port, IPv6 in the kernel’s spelling', () => {
  const c = compileInterception({
    passthrough: 'deny',
    destinations: [
      { address: '240.240.0.2', port: 9080, authority: 'reviews:9080' },
      { address: 'FD00:0:0::0010', port: 80, authority: 'v6:80' },
    ],
  });
  assert.equal(c.passthrough, 'deny');
  assert.equal(c.destinations.get('240.240.0.2 9080')?.authority, 'reviews:9080');
  assert.equal(c.destinations.get('fd00::10 80')?.authority, 'v6:80');
  assert.equal(c.destinations.get('240.240.0.2 9081'), undefined);
});

test('a redirected connection to an HTTP service is served as HTTP even when sniffing gave up', () => {
  // No tcpCluster: the service speaks HTTP; a timed-out sniff must not close the app's connection.
  assert.equal(redirectedProtocol('tcp', undefined), 'http1');
  assert.equal(redirectedProtocol('http2', undefined), 'http2');
  // TLS the app originates, and TCP to a tcp service, stay opaque.
  assert.equal(redirectedProtocol('tls', undefined), 'tcp');
  assert.equal(redirectedProtocol('tls', 'outbound:db.default'), 'tcp');
  assert.equal(redirectedProtocol('tcp', 'outbound:db.default'), 'tcp');
  assert.equal(redirectedProtocol('http1', 'outbound:db.default'), 'http1');
});
