// Static stability: the control plane is SIGKILLed while a client sends steady traffic through its
// sidecar, and not one request fails (proxies keep their last good config). `trellis up` restarted
// on the same dir and port: every proxy reconnects by itself and a new apply reaches them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { listProxies, listWorkloads, MeshClient, waitReady, waitVersions } from './client.ts';
import { run, Scope, trellisOk, up, waitUntil } from './harness.ts';

const RATE = 50;
const SECONDS = 6;

test(
  'control plane killed under load: zero failures; restarted, proxies reconnect and obey a new apply',
  { timeout: 90_000 },
  async (t) => {
    const scope = await Scope.create(t);
    const cp = await up(scope, { dir: 'cp' });
    const reviews = (version: string) =>
      run(scope, cp.url, {
        service: 'reviews',
        version,
        servicePort: 9080,
        app: ['node', 'examples/demo/reviews.ts'],
      });
    const workloads = await Promise.all([
      reviews('v1'),
      reviews('v2'),
      run(scope, cp.url, { service: 'web' }),
    ]);
    const names = workloads.map((w) => w.name);
    const web = workloads[2]!;
    await waitReady(cp.url, names);
    const client = new MeshClient(web.ports.outbound);
    t.after(() => client.close());
    await waitVersions(client, 'http://reviews/', ['v1', 'v2']);
    // Before any route, jason is balanced like everyone else.
    const before = await client.versions('http://reviews/', 20, { 'end-user': 'jason' });
    assert.ok((before.get('v1') ?? 0) > 0, 'jason reaches v1 before the canary');

    // Steady load, one request every 1000/RATE ms; the control plane dies one second in.
    const failures: string[] = [];
    let ok = 0;
    const load = (async () => {
      const pending: Promise<void>[] = [];
      for (let i = 0; i < RATE * SECONDS; i++) {
        pending.push(
          client.json('http://reviews:9080/').then(
            () => void ok++,
            (err: unknown) => void failures.push(err instanceof Error ? err.message : String(err)),
          ),
        );
        await sleep(1000 / RATE);
      }
      await Promise.all(pending);
    })();
    await sleep(1000);
    cp.proc.signal('SIGKILL');
    assert.equal((await cp.proc.exited).signal, 'SIGKILL');
    await load;
    assert.deepEqual(failures, []);
    assert.equal(ok, RATE * SECONDS);

    // Same dir, same port: the proxies find it again by themselves.
    const again = await up(scope, { dir: 'cp', port: cp.port });
    assert.equal(again.url, cp.url);
    await waitUntil('every proxy reconnected', async () => {
      const proxies = await listProxies(again.url);
      return names.every((n) => proxies.some((p) => p.workload === n && p.acked !== undefined))
        ? true
        : undefined;
    });
    const status = await trellisOk(['proxy-status', '--control', again.url]);
    for (const n of names)
      assert.match(status, new RegExp(`^${n}\\s+default\\s+\\d+\\s+\\d+\\s+SYNCED$`, 'm'));
    assert.deepEqual((await listWorkloads(again.url)).map((w) => w.metadata.name).sort(), [...names].sort());

    await trellisOk(['apply', '--control', again.url, '-f', 'examples/demo/canary.yaml']);
    await sleep(1000);
    const jason = await client.versions('http://reviews/', 50, { 'end-user': 'jason' });
    assert.deepEqual([...jason], [['v2', 50]]);
  },
);
