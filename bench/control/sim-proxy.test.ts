// A simulated proxy against a real control plane: it registers with a join token minted through the
// API, ACKs what it receives (the control plane sees the ACK), gives `inspect` the whole snapshot,
// and reconnects like a sidecar when the control plane goes away and comes back on the same port.
// Without a token, or with another account's, the control plane refuses it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestControlPlane } from '../../src/control/testing.ts';
import { JoinTokenCache } from './join-tokens.ts';
import { SimProxy, simRegistration } from './sim-proxy.ts';

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(await ok(), what);
}

function tokensOf(cp: { url: string; adminToken: string | undefined }): JoinTokenCache {
  assert.ok(cp.adminToken, 'the test control plane has an admin token');
  return new JoinTokenCache({ url: cp.url, token: cp.adminToken });
}

test('registers with a join token, ACKs each snapshot, and the control plane shows the ACK', async (t) => {
  const cp = await startTestControlPlane(t, { streamAuth: true });
  const seen: string[] = [];
  const joinTokens = tokensOf(cp);
  const sim = new SimProxy({
    controlUrl: cp.url,
    registration: simRegistration(7, 'reviews', 'default'),
    joinTokens,
    inspect: (text) => {
      const msg = JSON.parse(text) as { config: { node: { id: string } } };
      seen.push(msg.config.node.id);
      return 'seen';
    },
  });
  t.after(() => sim.close());
  await sim.connect(10_000);
  await until('a snapshot', () => sim.received.length > 0);
  const [first] = sim.received;
  assert.equal(first?.marker, 'seen');
  assert.ok((first?.bytes ?? 0) > 100);
  assert.deepEqual(seen.slice(0, 1), ['reviews-sim7']);
  await until('the ACK in proxy status', () =>
    cp.push.status().some((p) => p.workload === 'reviews-sim7' && p.acked === first?.version),
  );
  const w = cp.view.state().workloads.find((x) => x.metadata.name === 'reviews-sim7');
  assert.equal(w?.spec.address, '10.0.0.8');

  // A second proxy of the same account reuses the token: one minted per service account.
  const twin = new SimProxy({
    controlUrl: cp.url,
    registration: simRegistration(8, 'reviews', 'default'),
    joinTokens,
  });
  t.after(() => twin.close());
  await twin.connect(10_000);
  assert.equal(joinTokens.size, 1);
});

test("without a join token, or with another account's, the stream is refused", async (t) => {
  const cp = await startTestControlPlane(t, { streamAuth: true });
  const joinTokens = tokensOf(cp);
  const anonymous = new SimProxy({
    controlUrl: cp.url,
    registration: simRegistration(1, 'ratings', 'default'),
  });
  t.after(() => anonymous.close());
  await assert.rejects(anonymous.connect(3000), /TRELLIS_UNAUTHENTICATED/);
  const other = new SimProxy({
    controlUrl: cp.url,
    registration: simRegistration(2, 'ratings', 'default'),
    joinTokens: { get: (ns) => joinTokens.get(ns, 'reviews') },
  });
  t.after(() => other.close());
  await assert.rejects(other.connect(3000), /TRELLIS_TOKEN_WRONG_ACCOUNT/);
});

test('without inspect it reads only the version, and reconnects after the control plane restarts', async (t) => {
  const first = await startTestControlPlane(t, { streamAuth: true });
  const sim = new SimProxy({
    controlUrl: first.url,
    registration: simRegistration(1, 'ratings', 'ns1'),
    joinTokens: tokensOf(first),
  });
  t.after(() => sim.close());
  await sim.connect(10_000);
  await until('a snapshot', () => sim.received.length > 0);
  assert.match(sim.received[0]?.version ?? '', /^\d+$/);

  await first.close();
  await until('the drop is seen', () => sim.drops === 1 && !sim.open);
  const since = sim.received.length;
  // Same store: the join token minted before the restart is still valid.
  const second = await startTestControlPlane(t, { dir: first.dir, port: first.port, streamAuth: true });
  await until('connected again', () => sim.open, 15_000);
  await until('a snapshot from the new control plane', () => sim.received.length > since);
  await until('registered again', () => second.push.status().some((p) => p.workload === 'ratings-sim1'));
});
