import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toTransparentOptions, transparentAppEnv } from './transparent-options.ts';

const flags = {
  service: 'web',
  address: '127.0.0.1',
  netnsPool: '10.213.0.0/16',
  proxyGid: '1337',
  excludeOutboundPorts: '5432, 6379',
  excludeInboundPorts: '22',
  excludeOutboundCidrs: '169.254.169.254,10.0.0.0/8',
};

test('exclusion lists are parsed and checked before anything is made', () => {
  const o = toTransparentOptions(flags, ['http://127.0.0.1:15080'], () => {});
  assert.deepEqual(o.excludeOutboundPorts, [5432, 6379]);
  assert.deepEqual(o.excludeInboundPorts, [22]);
  assert.deepEqual(o.excludeOutboundCidrs, ['169.254.169.254/32', '10.0.0.0/8']);
  assert.equal(o.address, undefined, '--address 127.0.0.1 (the default) means: the namespace’s own');
  assert.equal(o.proxyGid, 1337);
  assert.throws(() => toTransparentOptions({ ...flags, proxyGid: '0' }, [], () => {}), /--proxy-gid/);
  assert.throws(
    () => toTransparentOptions({ ...flags, excludeOutboundCidrs: '10.0.0/8' }, [], () => {}),
    /not an IPv4 CIDR/,
  );
  assert.throws(() => toTransparentOptions({ ...flags, excludeInboundPorts: 'ssh' }, [], () => {}), /port/);
});

test('the app gets no proxy variables in transparent mode', () => {
  const env = transparentAppEnv({ HTTP_PROXY: 'x', https_proxy: 'y', NO_PROXY: 'z', PORT: '8080' });
  assert.deepEqual(env, { PORT: '8080' });
});
