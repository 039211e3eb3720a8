// Header and URL changes through a real proxy: what the upstream receives (set/add/remove, prefix
// and regex rewrites with the query kept, the authority) and what the client receives (response
// set/add/remove), over HTTP/1 and HTTP/2; plus the RE2 substitution rules and the config checks
// that keep bad patterns and header-injecting values out.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../errors.ts';
import { parseConfigText } from '../model/load.ts';
import { compileRegexRewrite } from './regex-rewrite.ts';
import { policyConfig, request, startPolicyProxy, startRecordingUpstream } from './test-support.ts';
import type { RecordingUpstream, RunningProxy, SeenRequest } from './test-support.ts';

describe('regex rewrite substitution', () => {
  const rewrite = (pattern: string, substitution: string, path: string): string => {
    const r = compileRegexRewrite(pattern, substitution);
    assert.ok(r.ok, r.ok ? '' : r.message);
    return r.rewrite.apply(path);
  };

  it('replaces every match in the path with \\N groups, keeping the query', () => {
    assert.equal(
      rewrite('^/users/([0-9]+)/profile$', '/profile/\\1', '/users/42/profile?x=1'),
      '/profile/42?x=1',
    );
    assert.equal(rewrite('o', '0', '/foo/boo?o=o'), '/f00/b00?o=o');
    assert.equal(rewrite('^/(a)(b)$', '/\\2\\1\\0\\\\', '/ab'), '/ba/ab\\');
    assert.equal(rewrite('^/x/(.*)$', '/\\1', '/y'), '/y', 'no match: unchanged');
  });

  it('refuses bad patterns, unknown escapes and groups the pattern lacks', () => {
    const bad = (p: string, s: string) => {
      const r = compileRegexRewrite(p, s);
      return r.ok ? 'ok' : r.field;
    };
    assert.equal(bad('(a', '/'), 'pattern');
    assert.equal(bad('(?<=a)b', '/'), 'pattern', 'RE2 has no lookbehind');
    assert.equal(bad('(a)', '/\\2'), 'substitution');
    assert.equal(bad('(a)', '/\\n'), 'substitution');
    assert.equal(bad('(a)', '/\\'), 'substitution');
    assert.equal(bad('(a)', '/$1'), 'ok', '$ is a literal');
  });
});

describe('header and URL changes through the proxy', () => {
  let upstream: RecordingUpstream;
  let proxy: RunningProxy;
  const last = (): SeenRequest => upstream.seen[upstream.seen.length - 1]!;
  before(async () => {
    upstream = await startRecordingUpstream('app', (seen, res) => {
      res.setHeader('x-internal', 'secret');
      res.setHeader('x-version', 'v1');
      res.setHeader('x-multi', 'upstream');
      res.end(`app ${seen.url}`);
    });
    proxy = await startPolicyProxy(
      [
        {
          name: 'api',
          match: { path: { prefix: '/api/' } },
          backends: [{ cluster: 'app' }],
          rewrite: { prefix: '/v2/', authority: 'backend.internal:8080' },
          requestHeaders: {
            set: { 'X-Env': 'prod', 'x-replaced': 'new' },
            add: { 'x-added': 'one' },
            remove: ['X-Debug'],
          },
          responseHeaders: {
            set: { 'x-version': 'v2' },
            add: { 'x-multi': 'proxy' },
            remove: ['x-internal'],
          },
        },
        {
          name: 'users',
          match: { path: { regex: '/users/[0-9]+/profile' } },
          backends: [{ cluster: 'app' }],
          rewrite: { regex: { pattern: '^/users/([0-9]+)/profile$', substitution: '/profiles/\\1' } },
          requestHeaders: { set: { host: 'profiles.internal' } },
        },
        {
          name: 'exact',
          match: { path: { exact: '/old' } },
          backends: [{ cluster: 'app' }],
          rewrite: { prefix: '/new' },
        },
      ],
      { app: { ports: [upstream.port] } },
    );
  });
  after(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('rewrites the matched prefix and the authority, and mutates request headers', async () => {
    const r = await request({
      port: proxy.port,
      path: '/api/items/7?page=2',
      headers: { 'x-debug': '1', 'x-replaced': 'old', 'x-added': 'zero', 'x-keep': 'k' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'app /v2/items/7?page=2');
    const seen = last();
    assert.equal(seen.url, '/v2/items/7?page=2');
    assert.equal(seen.headers['host'], 'backend.internal:8080');
    assert.equal(seen.headers['x-env'], 'prod');
    assert.equal(seen.headers['x-replaced'], 'new');
    assert.equal(seen.headers['x-added'], 'zero, one', 'add appends');
    assert.equal(seen.headers['x-debug'], undefined);
    assert.equal(seen.headers['x-keep'], 'k');
  });

  it('mutates the response head before the client sees it', async () => {
    const r = await request({ port: proxy.port, path: '/api/x' });
    assert.equal(r.headers['x-internal'], undefined);
    assert.equal(r.headers['x-version'], 'v2');
    assert.equal(r.headers['x-multi'], 'upstream, proxy');
  });

  it('rewrites by RE2 regex, with a host set through requestHeaders', async () => {
    const r = await request({ port: proxy.port, path: '/users/42/profile?full=1' });
    assert.equal(r.body, 'app /profiles/42?full=1');
    assert.equal(last().headers['host'], 'profiles.internal');
  });

  it('replaces the whole path of an exact match', async () => {
    const r = await request({ port: proxy.port, path: '/old?q' });
    assert.equal(r.body, 'app /new?q');
  });

  it('applies the same changes to HTTP/2 requests', async () => {
    const session = http2.connect(`http://127.0.0.1:${proxy.port}`);
    session.on('error', () => {});
    try {
      const res = await new Promise<{ headers: http2.IncomingHttpHeaders; body: string }>(
        (resolve, reject) => {
          const s = session.request({ ':path': '/api/h2?z=1', ':authority': 'svc.test', 'x-debug': '1' });
          let headers: http2.IncomingHttpHeaders = {};
          let body = '';
          s.setEncoding('utf8');
          s.on('response', (h) => (headers = h));
          s.on('data', (c: string) => (body += c));
          s.on('end', () => resolve({ headers, body }));
          s.on('error', reject);
          s.end();
        },
      );
      assert.equal(res.body, 'app /v2/h2?z=1');
      assert.equal(res.headers['x-version'], 'v2');
      assert.equal(res.headers['x-internal'], undefined);
      assert.equal(last().headers['x-debug'], undefined);
      assert.equal(last().headers['host'], 'backend.internal:8080');
    } finally {
      session.destroy();
    }
  });
});

describe('header and rewrite validation', () => {
  const problems = (route: object): string[] => {
    const config = policyConfig([{ backends: [{ cluster: 'c' }], ...route }], { c: { ports: [1] } });
    try {
      parseConfigText(JSON.stringify(config, null, 2), 'headers.json');
    } catch (err) {
      if (err instanceof ConfigError) return err.diagnostics.map((d) => `${d.path}: ${d.message}`);
      throw err;
    }
    return [];
  };
  const at = 'routeTables[0].virtualHosts[0].routes[0]';

  it('refuses a rewrite regex RE2 rejects, and a substitution naming a missing group', () => {
    const bad = problems({ rewrite: { regex: { pattern: '^/(a', substitution: '/' } } });
    assert.ok(
      bad.some((p) => p.startsWith(`${at}.rewrite.regex.pattern: invalid regex`)),
      bad.join('\n'),
    );
    const group = problems({ rewrite: { regex: { pattern: '^/(a)$', substitution: '/\\2' } } });
    assert.ok(
      group.some((p) => p.startsWith(`${at}.rewrite.regex.substitution:`)),
      group.join('\n'),
    );
  });

  it('refuses values that would inject headers or break the request line', () => {
    const crlf = problems({ requestHeaders: { set: { 'x-a': 'v\r\nx-evil: 1' } } });
    assert.ok(
      crlf.some((p) => p.startsWith(`${at}.requestHeaders.set.x-a:`)),
      crlf.join('\n'),
    );
    const space = problems({ rewrite: { prefix: '/a b' } });
    assert.ok(
      space.some((p) => p.startsWith(`${at}.rewrite.prefix:`)),
      space.join('\n'),
    );
    const framing = problems({ responseHeaders: { set: { 'content-length': '1' } } });
    assert.ok(
      framing.some((p) => p.includes('content-length')),
      framing.join('\n'),
    );
    assert.deepEqual(problems({ requestHeaders: { set: { 'x-ok': 'a value' }, remove: ['x-b'] } }), []);
  });
});
