// Redirects: the Location header exactly as Envoy builds it (scheme, host, port, path, prefix,
// query), and end to end through a real proxy whose route has no backend: the status and Location
// come from the proxy, and the upstream of a neighbouring route never sees the request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { z } from 'zod';
import type { RedirectPolicy } from '../model/policy.ts';
import { Route, RouteMatch } from '../model/schema.ts';
import { testRequest } from '../proxy/testing.ts';
import type { ProxyRequest } from '../proxy/types.ts';
import type { MatchedRoute } from '../route/index.ts';
import { MatchedPrefix } from './matched-prefix.ts';
import { RedirectTarget } from './redirect.ts';
import { request, startPolicyProxy, startRecordingUpstream } from './test-support.ts';
import type { RecordingUpstream, RunningProxy } from './test-support.ts';

function req(authority: string, path: string, scheme: 'http' | 'https' = 'http'): ProxyRequest {
  return testRequest({ scheme, authority, path, listener: 'l', startTime: 0 });
}

type MatchInput = z.input<typeof RouteMatch> | z.input<typeof RouteMatch>[];

function location(policy: Partial<RedirectPolicy>, r: ProxyRequest, match?: MatchInput): string {
  const full: RedirectPolicy = { status: 301, ...policy };
  // MatchedPrefix reads only the route's config.
  const config = Route.parse({ match, backends: [{ cluster: 'c' }] });
  const route = { config } as unknown as MatchedRoute;
  return new RedirectTarget(full, full.prefix === undefined ? undefined : new MatchedPrefix(route)).location(
    r,
  );
}

describe('redirect Location', () => {
  it('keeps what is not configured', () => {
    assert.equal(location({}, req('a.test:8080', '/x?y=1')), 'http://a.test:8080/x?y=1');
  });

  it('scheme change drops the default port of the old scheme only', () => {
    assert.equal(location({ scheme: 'https' }, req('a.test:80', '/p')), 'https://a.test/p');
    assert.equal(location({ scheme: 'https' }, req('a.test:8080', '/p')), 'https://a.test:8080/p');
    assert.equal(location({ scheme: 'http' }, req('a.test:443', '/p', 'https')), 'http://a.test/p');
    assert.equal(location({ scheme: 'https' }, req('a.test', '/p')), 'https://a.test/p');
  });

  it('a configured port replaces the request port and is always written', () => {
    assert.equal(location({ port: 9443 }, req('a.test:8080', '/p')), 'http://a.test:9443/p');
    assert.equal(location({ scheme: 'https', port: 443 }, req('a.test', '/p')), 'https://a.test:443/p');
    assert.equal(location({ port: 81 }, req('[::1]:8080', '/p')), 'http://[::1]:81/p');
  });

  it('a configured host replaces host and port', () => {
    assert.equal(location({ host: 'b.test' }, req('a.test:8080', '/p?q')), 'http://b.test/p?q');
    assert.equal(location({ host: 'b.test', port: 8443 }, req('a.test:8080', '/p')), 'http://b.test:8443/p');
  });

  it('path replaces the whole path; the query stays unless the new path has one', () => {
    assert.equal(location({ path: '/new' }, req('a.test', '/old/x?q=1&r')), 'http://a.test/new?q=1&r');
    assert.equal(location({ path: '/new?v=2' }, req('a.test', '/old?q=1')), 'http://a.test/new?v=2');
    assert.equal(location({ path: 'rel' }, req('a.test', '/old')), 'http://a.test/rel');
  });

  it("prefix replaces the route's matched prefix, keeping the rest and the query", () => {
    const m = { path: { prefix: '/v1/' } };
    assert.equal(
      location({ prefix: '/v2/' }, req('a.test', '/v1/users/7?x=1'), m),
      'http://a.test/v2/users/7?x=1',
    );
    const several = [{ path: { prefix: '/old' } }, { path: { prefix: '/legacy/api' } }];
    assert.equal(
      location({ prefix: '/api' }, req('a.test', '/legacy/api/x'), several),
      'http://a.test/api/x',
    );
    // An exact or regex match is replaced whole (Istio's rule when no prefix matched).
    assert.equal(
      location({ prefix: '/new' }, req('a.test', '/e?k'), { path: { exact: '/e' } }),
      'http://a.test/new?k',
    );
  });
});

describe('redirect through the proxy', () => {
  let upstream: RecordingUpstream;
  let proxy: RunningProxy;
  before(async () => {
    upstream = await startRecordingUpstream('app');
    proxy = await startPolicyProxy(
      [
        {
          name: 'to-https',
          match: { path: { prefix: '/secure/' } },
          redirect: { scheme: 'https', host: 'secure.example.com', port: 8443, status: 308 },
        },
        {
          name: 'moved',
          match: { path: { prefix: '/v1/' } },
          redirect: { prefix: '/v2/', status: 302 },
        },
        { name: 'rest', backends: [{ cluster: 'app' }] },
      ],
      { app: { ports: [upstream.port] } },
    );
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('answers 308 with the exact Location, never calling upstream', async () => {
    const r = await request({
      port: proxy.port,
      method: 'POST',
      path: '/secure/login?next=%2Fhome',
      headers: { host: 'www.example.com:8080' },
      body: 'user=a',
    });
    assert.equal(r.status, 308);
    assert.equal(r.headers['location'], 'https://secure.example.com:8443/secure/login?next=%2Fhome');
    assert.equal(r.headers['content-length'], '0');
    assert.equal(upstream.seen.length, 0);
  });

  it('answers 302 with the prefix replaced', async () => {
    const r = await request({ port: proxy.port, path: '/v1/items/3?page=2', headers: { host: 'shop.test' } });
    assert.equal(r.status, 302);
    assert.equal(r.headers['location'], 'http://shop.test/v2/items/3?page=2');
    assert.equal(upstream.seen.length, 0);
    const through = await request({ port: proxy.port, path: '/v2/items/3' });
    assert.equal(through.body, 'app GET /v2/items/3');
  });
});
