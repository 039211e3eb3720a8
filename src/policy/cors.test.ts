// CORS at the proxy, through a real proxy to a real upstream: a browser-style preflight is
// answered without reaching upstream, an allowed origin's actual request gets the CORS headers
// (replacing the upstream's), and other origins get none.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfigText } from '../model/load.ts';
import { freePort, policyConfig, request, startPolicyProxy, startRecordingUpstream } from './test-support.ts';
import type { RecordingUpstream, RunningProxy } from './test-support.ts';

describe('CORS policy', () => {
  let upstream: RecordingUpstream;
  let proxy: RunningProxy;
  before(async () => {
    upstream = await startRecordingUpstream('app', (seen, res) => {
      // An upstream with its own (wrong) CORS answer: the proxy's policy replaces it.
      res.setHeader('access-control-allow-origin', '*');
      res.setHeader('vary', 'accept-encoding');
      res.end(`app ${seen.method}`);
    });
    proxy = await startPolicyProxy(
      [
        {
          name: 'down',
          match: { path: { prefix: '/down' } },
          backends: [{ cluster: 'nowhere' }],
          cors: { allowOrigins: [{ exact: 'https://app.example.com' }] },
        },
        {
          name: 'cors',
          backends: [{ cluster: 'app' }],
          cors: {
            allowOrigins: [
              { exact: 'https://app.example.com' },
              { prefix: 'https://dev-' },
              { regex: 'https://[a-z]+\\.partner\\.test' },
            ],
            allowMethods: ['GET', 'POST', 'PUT'],
            allowHeaders: ['content-type', 'x-token'],
            exposeHeaders: ['x-request-id'],
            maxAge: '24h',
            allowCredentials: true,
          },
        },
      ],
      { app: { ports: [upstream.port] }, nowhere: { ports: [await freePort()] } },
    );
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('answers a browser preflight from an allowed origin at the proxy', async () => {
    const before = upstream.seen.length;
    const r = await request({
      port: proxy.port,
      method: 'OPTIONS',
      path: '/items/7',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'content-type,x-token',
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(r.headers['access-control-allow-methods'], 'GET,POST,PUT');
    assert.equal(r.headers['access-control-allow-headers'], 'content-type,x-token');
    assert.equal(r.headers['access-control-max-age'], '86400');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['vary'], 'origin');
    assert.equal(r.body, '');
    assert.equal(upstream.seen.length, before, 'the preflight never reaches upstream');
  });

  it('matches origins by prefix and by RE2 regex', async () => {
    for (const origin of ['https://dev-7.example.com', 'https://acme.partner.test']) {
      const r = await request({
        port: proxy.port,
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET' },
      });
      assert.equal(r.status, 204, origin);
      assert.equal(r.headers['access-control-allow-origin'], origin);
    }
  });

  it("adds the CORS headers to an allowed origin's actual response, replacing the upstream's", async () => {
    const r = await request({
      port: proxy.port,
      method: 'POST',
      path: '/items',
      headers: { origin: 'https://app.example.com', 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app POST');
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-expose-headers'], 'x-request-id');
    const acao = r.rawHeaders.filter(
      (_, i) => i % 2 === 0 && r.rawHeaders[i]!.toLowerCase() === 'access-control-allow-origin',
    );
    assert.equal(acao.length, 1, 'one Access-Control-Allow-Origin');
    assert.equal(r.headers['vary'], 'accept-encoding, origin');
  });

  it('gives other origins no CORS headers; their preflight goes upstream as Envoy does', async () => {
    const actual = await request({ port: proxy.port, headers: { origin: 'https://evil.example' } });
    assert.equal(actual.status, 200);
    assert.equal(actual.headers['access-control-allow-origin'], '*', "only the upstream's own header");
    assert.equal(actual.headers['access-control-allow-credentials'], undefined);

    const before = upstream.seen.length;
    const pre = await request({
      port: proxy.port,
      method: 'OPTIONS',
      headers: { origin: 'https://partner.test', 'access-control-request-method': 'PUT' },
    });
    assert.equal(pre.body, 'app OPTIONS');
    assert.equal(pre.headers['access-control-allow-methods'], undefined);
    assert.equal(upstream.seen.length, before + 1);
  });

  it("puts the CORS headers on the proxy's own error answers too", async () => {
    const r = await request({
      port: proxy.port,
      path: '/down',
      headers: { origin: 'https://app.example.com' },
    });
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-trellis-error'], 'TRELLIS_UPSTREAM_CONNECT_FAILED');
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
  });

  it('leaves requests without an Origin alone', async () => {
    const r = await request({ port: proxy.port, method: 'OPTIONS' });
    assert.equal(r.body, 'app OPTIONS');
    assert.equal(r.headers['access-control-allow-credentials'], undefined);
  });
});

describe('CORS validation', () => {
  it('refuses an origin regex RE2 rejects, naming its place', () => {
    const config = policyConfig(
      [{ backends: [{ cluster: 'c' }], cors: { allowOrigins: [{ regex: 'https://(a' }] } }],
      { c: { ports: [1] } },
    );
    assert.throws(
      () => parseConfigText(JSON.stringify(config, null, 2), 'cors.json'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.diagnostics.some(
          (d) =>
            d.path === 'routeTables[0].virtualHosts[0].routes[0].cors.allowOrigins[0].regex' && d.line > 0,
        ),
    );
  });
});
