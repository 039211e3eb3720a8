// The proxy in transparent mode, in a network namespace with the real rules: an unmodified client
// dials a service address, iptables sends it to the outbound listener, and the original
// destination decides where it goes.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { applyRules, removeRules, saveNatTable } from './iptables.ts';
import {
  fixture,
  makeTopology,
  netnsSkipReason,
  runInNetns,
  type NetnsProcess,
  type Topology,
} from './test-support.ts';

const GID = 1337;

async function startProxy(
  t: TestContext,
  topo: Topology,
  passthrough: 'allow' | 'deny',
  gid = GID,
): Promise<NetnsProcess> {
  const proxy = runInNetns(t, topo.workload.name, fixture('intercept-proxy.ts'), [passthrough], gid);
  const { outbound } = (await proxy.first) as { outbound: number };
  applyRules(topo.workload.name, { outboundPort: outbound, proxyGid: GID });
  return proxy;
}

async function client(t: TestContext, topo: Topology, exchanges: object[]): Promise<(string | null)[]> {
  const c = runInNetns(t, topo.workload.name, fixture('intercept-client.ts'), [JSON.stringify(exchanges)]);
  return (await c.first) as (string | null)[];
}

async function echoInPeer(t: TestContext, topo: Topology): Promise<{ host: string; port: number }> {
  const host = topo.workload.peerAddress!;
  const echo = runInNetns(t, topo.peer, fixture('echo-server.ts'), [host]);
  return { host, port: ((await echo.first) as { port: number }).port };
}

test('redirected connections are routed by their original destination', async (t) => {
  const why = netnsSkipReason();
  if (why) return t.skip(why);
  const topo = makeTopology(t);
  const echo = await echoInPeer(t, topo);
  await startProxy(t, topo, 'allow');
  const vip = { host: '10.96.0.10', port: 9080 };
  const [byIp, noHost, tcp, passed] = await client(t, topo, [
    // (i) HTTP/1 whose Host is the IP it dialled: routed as the destination's authority.
    { ...vip, send: 'GET /by-ip HTTP/1.1\r\nHost: 10.96.0.10:9080\r\nConnection: close\r\n\r\n' },
    { ...vip, send: 'GET /no-host HTTP/1.0\r\n\r\n' },
    // (ii) not HTTP: the destination's tcpCluster.
    { ...vip, send: 'PING\r\n' },
    // (iii) an address no destination lists: passed through to where it was going.
    { ...echo, send: 'hello' },
  ]);
  assert.match(byIp ?? '', /^HTTP\/1\.1 200/);
  assert.match(byIp ?? '', /host=reviews:9080 path=\/by-ip$/);
  assert.match(noHost ?? '', /^HTTP\/1\.[01] 200/);
  assert.match(noHost ?? '', /host=reviews:9080 path=\/no-host$/);
  assert.equal(tcp, 'tcp:PING\r\n');
  assert.equal(passed, 'echo:hello');
});

test('passthrough deny closes connections to unlisted destinations; rules come off cleanly', async (t) => {
  const why = netnsSkipReason();
  if (why) return t.skip(why);
  const topo = makeTopology(t);
  const echo = await echoInPeer(t, topo);
  await startProxy(t, topo, 'deny');
  const [denied, listed] = await client(t, topo, [
    { ...echo, send: 'hello' },
    { host: '10.96.0.10', port: 9080, send: 'PING\n' },
  ]);
  assert.equal(denied, null);
  assert.equal(listed, 'tcp:PING\n');
  assert.match(saveNatTable(topo.workload.name), /TRELLIS_OUTPUT/);
  removeRules(topo.workload.name);
  assert.doesNotMatch(saveNatTable(topo.workload.name), /TRELLIS/);
  // Without the rules the same dial goes straight to the peer.
  const [direct] = await client(t, topo, [{ ...echo, send: 'hi' }]);
  assert.equal(direct, 'echo:hi');
});

test('a proxy whose own traffic is redirected (wrong group) refuses the loop instead of relaying forever', async (t) => {
  const why = netnsSkipReason();
  if (why) return t.skip(why);
  const topo = makeTopology(t);
  const echo = await echoInPeer(t, topo);
  const proxy = await startProxy(t, topo, 'allow', 0); // the rules exempt group 1337 only
  const [looped, listed] = await client(t, topo, [
    { ...echo, send: 'hello' },
    { host: '10.96.0.10', port: 9080, send: 'PING\n' },
  ]);
  assert.equal(looped, null);
  assert.equal(listed, 'tcp:PING\n');
  // The app's two connections, and the one passthrough connection that came back and was refused.
  assert.deepEqual(await proxy.ask('stats'), { accepted: 3 });
});
