import { test } from 'node:test';
import assert from 'node:assert/strict';
import { removalCommands, renderRules } from './iptables.ts';

test('the rules, as iptables-restore reads them (after istio-iptables, REDIRECT mode)', () => {
  const text = renderRules({
    outboundPort: 15001,
    inboundPort: 15006,
    proxyGid: 1337,
    excludeOutboundPorts: [5432],
    excludeInboundPorts: [22],
    excludeOutboundCidrs: ['169.254.169.254', '10.0.0.0/8'],
    excludeOutboundEndpoints: [{ address: '10.213.0.1', port: 40123 }],
  });
  assert.equal(
    text,
    [
      '*nat',
      ':TRELLIS_INBOUND - [0:0]',
      ':TRELLIS_REDIRECT - [0:0]',
      ':TRELLIS_IN_REDIRECT - [0:0]',
      ':TRELLIS_OUTPUT - [0:0]',
      '-A TRELLIS_REDIRECT -p tcp -j REDIRECT --to-ports 15001',
      '-A TRELLIS_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006',
      '-A PREROUTING -p tcp -j TRELLIS_INBOUND',
      '-A TRELLIS_INBOUND -p tcp --dport 15006 -j RETURN',
      '-A TRELLIS_INBOUND -p tcp --dport 22 -j RETURN',
      '-A TRELLIS_INBOUND -p tcp -j TRELLIS_IN_REDIRECT',
      '-A OUTPUT -p tcp -j TRELLIS_OUTPUT',
      '-A TRELLIS_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 1337 -j TRELLIS_IN_REDIRECT',
      '-A TRELLIS_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN',
      '-A TRELLIS_OUTPUT -m owner --gid-owner 1337 -j RETURN',
      '-A TRELLIS_OUTPUT -d 127.0.0.1/32 -j RETURN',
      '-A TRELLIS_OUTPUT -d 10.213.0.1/32 -p tcp --dport 40123 -j RETURN',
      '-A TRELLIS_OUTPUT -p tcp --dport 5432 -j RETURN',
      '-A TRELLIS_OUTPUT -d 169.254.169.254/32 -j RETURN',
      '-A TRELLIS_OUTPUT -d 10.0.0.0/8 -j RETURN',
      '-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT',
      'COMMIT',
      '',
    ].join('\n'),
  );
});

test('outbound only: no inbound chains, no PREROUTING jump', () => {
  const text = renderRules({ outboundPort: 15001, proxyGid: 1337 });
  assert.doesNotMatch(text, /INBOUND|IN_REDIRECT|PREROUTING/);
  assert.match(text, /^-A TRELLIS_OUTPUT -j TRELLIS_REDIRECT$/m);
});

test('a bad CIDR is refused before iptables sees it', () => {
  assert.throws(
    () => renderRules({ outboundPort: 1, proxyGid: 1337, excludeOutboundCidrs: ['10.0.0.0/40'] }),
    /not an IPv4 CIDR/,
  );
});

test('removal deletes the jumps, then flushes and deletes every chain', () => {
  const cmds = removalCommands().map((c) => c.join(' '));
  assert.deepEqual(cmds.slice(0, 2), [
    '-t nat -D PREROUTING -p tcp -j TRELLIS_INBOUND',
    '-t nat -D OUTPUT -p tcp -j TRELLIS_OUTPUT',
  ]);
  for (const chain of ['TRELLIS_OUTPUT', 'TRELLIS_REDIRECT', 'TRELLIS_INBOUND', 'TRELLIS_IN_REDIRECT']) {
    assert.ok(cmds.includes(`-t nat -F ${chain}`));
    assert.ok(cmds.includes(`-t nat -X ${chain}`));
  }
});
