import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptNetns, deleteNetns, ip, netnsExists, parseCidr } from './netns.ts';
import { makeTopology, netnsSkipReason } from './test-support.ts';

test('CIDRs are parsed to their network', () => {
  assert.deepEqual(parseCidr('10.213.0.7/30'), { base: (10 << 24) + (213 << 16) + 4, prefix: 30 });
  assert.throws(() => parseCidr('10.213.0.0/33'), /not an IPv4 CIDR/);
  assert.throws(() => parseCidr('10.213.0/30'), /not an IPv4 address/);
});

test('a workload namespace gets lo, a veth /30 to its peer and a default route; deleting removes both ends', (t) => {
  const why = netnsSkipReason();
  if (why) return t.skip(why);
  const { workload, peer } = makeTopology(t);
  const base = parseCidr(`${workload.address}/30`).base;
  assert.equal(parseCidr(`${workload.peerAddress}/30`).base, base);
  assert.match(
    ip(['-o', '-4', 'addr', 'show', 'dev', 'eth0'], workload.name),
    new RegExp(`${workload.address}/30`),
  );
  assert.match(ip(['-o', 'link', 'show', 'lo'], workload.name), /UP/);
  assert.match(ip(['route', 'show', 'default'], workload.name), new RegExp(`via ${workload.peerAddress}`));
  assert.match(
    ip(['-o', '-4', 'addr', 'show', 'dev', workload.peerLink!], peer),
    new RegExp(workload.peerAddress!),
  );
  // An existing namespace is accepted with the address it has, and never deleted.
  const accepted = acceptNetns(workload.name);
  assert.equal(accepted.address, workload.address);
  deleteNetns(accepted);
  assert.ok(netnsExists(workload.name));
  deleteNetns(workload);
  assert.ok(!netnsExists(workload.name));
  assert.doesNotMatch(ip(['-o', 'link', 'show'], peer), new RegExp(workload.peerLink!));
});
