import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HostsFile, hostsBase, renderHosts } from './hosts.ts';

const dns = {
  hosts: [
    { address: '240.240.0.2', names: ['reviews', 'reviews.default.svc.cluster.local'] },
    { address: '240.240.0.1', names: ['ratings'] },
  ],
};

test('mesh names follow the file’s own lines, sorted by address', () => {
  const text = renderHosts('127.0.0.1\tlocalhost\n10.0.0.5 build-host\n', dns);
  const lines = text.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 2), ['127.0.0.1\tlocalhost', '10.0.0.5 build-host']);
  assert.deepEqual(lines.slice(3), [
    '240.240.0.1\tratings',
    '240.240.0.2\treviews reviews.default.svc.cluster.local',
  ]);
});

test('localhost entries are kept, or added when the base has none', () => {
  assert.match(hostsBase(''), /^127\.0\.0\.1\tlocalhost$/m);
  assert.match(hostsBase(''), /^::1\tlocalhost/m);
  const own = '127.0.0.1 localhost myhost\n';
  assert.equal(hostsBase(own), own);
});

test('HostsFile rewrites in place (same inode, for the bind mount) and only on change', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trellis-hosts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hosts');
  writeFileSync(file, '127.0.0.1 localhost\n');
  const inode = statSync(file).ino;
  const hosts = new HostsFile(file);
  assert.equal(hosts.update(dns), true);
  assert.equal(hosts.update(dns), false);
  assert.match(readFileSync(file, 'utf8'), /^240\.240\.0\.2\treviews /m);
  assert.equal(hosts.update({ hosts: [{ address: '240.240.0.9', names: ['details'] }] }), true);
  const text = readFileSync(file, 'utf8');
  assert.doesNotMatch(text, /reviews/);
  assert.match(text, /^240\.240\.0\.9\tdetails$/m);
  assert.match(text, /^127\.0\.0\.1 localhost$/m);
  assert.equal(statSync(file).ino, inode);
  // A second writer (a restarted sidecar) finds its predecessor's block and replaces it.
  new HostsFile(file).update(undefined);
  assert.doesNotMatch(readFileSync(file, 'utf8'), /details/);
});
