import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseResourceName, resourceHref } from './names.ts';

describe('resource names', () => {
  it('reads the three ways the API names a resource', () => {
    const ap = { kind: 'AuthorizationPolicy', namespace: 'default', name: 'ratings-from-web' };
    assert.deepEqual(parseResourceName('AuthorizationPolicy/default/ratings-from-web'), ap);
    assert.deepEqual(parseResourceName('AuthorizationPolicy default/ratings-from-web'), ap);
    assert.deepEqual(parseResourceName('resources/AuthorizationPolicy/default/ratings-from-web'), ap);
    assert.equal(parseResourceName('not a resource'), undefined);
    assert.equal(parseResourceName(''), undefined);
  });

  it('links to the config view with the resource open', () => {
    assert.equal(
      resourceHref('Service', 'default', 'web'),
      '#/config?kind=Service&namespace=default&name=web',
    );
  });
});
