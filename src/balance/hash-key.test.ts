import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashKeyFor } from './index.ts';

const headers = [
  'x-user',
  'alice',
  'cookie',
  'theme=dark; session="s-42" ;lang=en',
  'cookie',
  'cart=7',
  'x-user',
  'bob',
];

test('header: first value, name matched case-insensitively; absent header gives undefined', () => {
  assert.equal(hashKeyFor({ header: 'x-user' }, headers, '10.0.0.1'), 'alice');
  assert.equal(hashKeyFor({ header: 'X-User' }, headers, '10.0.0.1'), 'alice');
  assert.equal(hashKeyFor({ header: 'x-missing' }, headers, '10.0.0.1'), undefined);
  assert.equal(hashKeyFor({ header: 'x-empty' }, ['x-empty', ''], '10.0.0.1'), '');
});

test('cookie: found among several cookies and across several Cookie headers', () => {
  assert.equal(hashKeyFor({ cookie: 'theme' }, headers, ''), 'dark');
  assert.equal(hashKeyFor({ cookie: 'session' }, headers, ''), 's-42', 'surrounding quotes are stripped');
  assert.equal(hashKeyFor({ cookie: 'lang' }, headers, ''), 'en');
  assert.equal(hashKeyFor({ cookie: 'cart' }, headers, ''), '7');
});

test('cookie: missing, prefix-only and value-only matches give undefined', () => {
  assert.equal(hashKeyFor({ cookie: 'missing' }, headers, ''), undefined);
  assert.equal(hashKeyFor({ cookie: 'the' }, headers, ''), undefined);
  assert.equal(hashKeyFor({ cookie: 'dark' }, headers, ''), undefined);
  assert.equal(hashKeyFor({ cookie: 'a' }, ['cookie', 'xa=1; a=2'], ''), '2');
  assert.equal(hashKeyFor({ cookie: 'a' }, ['cookie', ''], ''), undefined);
  assert.equal(hashKeyFor({ cookie: 'a' }, [], ''), undefined);
  assert.equal(hashKeyFor({ cookie: 'a' }, ['cookie', 'a='], ''), '');
});

test('source IP, with IPv4-mapped IPv6 addresses unmapped', () => {
  assert.equal(hashKeyFor({ sourceIp: true }, headers, '192.168.1.9'), '192.168.1.9');
  assert.equal(hashKeyFor({ sourceIp: true }, headers, '::ffff:192.168.1.9'), '192.168.1.9');
  assert.equal(hashKeyFor({ sourceIp: true }, headers, '2001:db8::1'), '2001:db8::1');
  assert.equal(hashKeyFor({ sourceIp: true }, headers, ''), undefined);
});
