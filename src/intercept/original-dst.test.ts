import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { fixture, makeTopology, netnsSkipReason, runInNetns } from './test-support.ts';
import { ADDON_PATH, originalDestination, originalDstAvailable } from './original-dst.ts';

test('the addon is built (npm run build:native)', () => {
  assert.ok(originalDstAvailable(), `missing ${ADDON_PATH}`);
});

test('a connection nobody redirected has no original destination', async (t) => {
  if (!originalDstAvailable()) return t.skip('addon not built');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  t.after(() => client.destroy());
  const socket = await accepted;
  t.after(() => socket.destroy());
  assert.equal(originalDestination(socket), undefined);
});

test('in a netns, a REDIRECTed connection reports where it was going', async (t) => {
  const why = netnsSkipReason();
  if (why) return t.skip(why);
  const { workload } = makeTopology(t);
  const probe = runInNetns(t, workload.name, fixture('original-dst-probe.ts'), []);
  const out = (await probe.first) as { port: number; seen: { original: unknown }[] };
  assert.deepEqual(
    out.seen.map((s) => s.original),
    [{ address: '10.96.0.10', port: 9080 }, null],
  );
});
