import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formFromQuery, parseTarget, tapBody } from './target.ts';

describe('tap target', () => {
  it('reads service/NS/NAME, workload/NS/NAME and service/NAME', () => {
    assert.deepEqual(parseTarget('service/shop/reviews'), {
      kind: 'service',
      namespace: 'shop',
      name: 'reviews',
    });
    assert.deepEqual(parseTarget('workload/default/web-v1-abc'), {
      kind: 'workload',
      namespace: 'default',
      name: 'web-v1-abc',
    });
    assert.deepEqual(parseTarget('service/reviews'), {
      kind: 'service',
      namespace: 'default',
      name: 'reviews',
    });
    for (const bad of [null, '', 'pod/x', 'service/', 'service/a/b/c'])
      assert.equal(parseTarget(bad), undefined);
  });

  it('turns a link into the request the CLI would send', () => {
    const v = formFromQuery(
      new URLSearchParams('target=service/default/web&to=ratings&method=post&headers=1'),
    );
    assert.deepEqual(tapBody(v), {
      target: { kind: 'service', namespace: 'default', name: 'web' },
      filter: { method: 'POST', to: 'ratings' },
      maxRps: 100,
      headers: true,
    });
  });

  it('says what is wrong instead of sending a request the server refuses', () => {
    const v = formFromQuery(new URLSearchParams('target=service/default/web'));
    assert.match(String(tapBody({ ...v, name: ' ' })), /Name the service/);
    assert.match(String(tapBody({ ...v, pathPrefix: 'api' })), /start with "\/"/);
    assert.match(String(tapBody({ ...v, method: 'GET /' })), /HTTP method/);
    assert.match(String(tapBody({ ...v, maxRps: '0' })), /1 to 1000/);
    assert.match(String(tapBody({ ...v, maxRps: '1001' })), /1 to 1000/);
  });
});
